"""Request bodies for the server's tests: good pictures and each kind of bad one."""

import io
import json
import struct
import zlib
from functools import cache

from PIL import Image, ImageDraw


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def seven_png() -> bytes:
    """A thick "7" on white paper, as the README draws it."""
    image = Image.new("L", (300, 400), "white")
    ImageDraw.Draw(image).line([(70, 70), (230, 70), (125, 340)], fill="black", width=36)
    return png_bytes(image)


def picture_bomb() -> bytes:
    """A small PNG whose header says 6,000 x 6,000 pixels: 36 million, below Pillow's own bound, hundreds of MB once read."""
    png = png_bytes(Image.new("L", (8, 8)))
    header = b"IHDR" + struct.pack(">II", 6_000, 6_000) + png[24:29]  # width and height, then depth, colour...
    return png[:12] + header + struct.pack(">I", zlib.crc32(header)) + png[33:]


def pixels(rows: list[list[float]]) -> bytes:
    return json.dumps({"pixels": rows}).encode()


BLANK_ROWS = [[0.0] * 28 for _ in range(28)]


@cache
def bad_requests(max_payload: int) -> dict[str, tuple[bytes, str, int, str]]:
    """Each bad request: (body, content type, the status expected, a phrase its sentence holds)."""
    seven = seven_png()
    nan_rows = [row[:] for row in BLANK_ROWS]
    nan_rows[3][5] = float("nan")
    big_rows = [row[:] for row in BLANK_ROWS]
    big_rows[0][0] = 255
    huge_rows = [row[:] for row in BLANK_ROWS]
    huge_rows[9][9] = 10**400  # a whole number JSON allows and no float holds
    true_rows = [row[:] for row in BLANK_ROWS]
    true_rows[27][27] = True  # a number to torch (1.0), not to the API
    surrogate_rows = [row[:] for row in BLANK_ROWS]
    surrogate_rows[0][0] = "\ud800"  # JSON escapes it; quoted back, it must be escaped again
    return {
        "not a picture": (b"hello, server", "image/png", 400, "not an image"),
        "a truncated PNG": (seven[: len(seven) // 3], "image/png", 400, "truncated"),
        "a picture bomb": (picture_bomb(), "image/png", 400, "more than the"),
        "a body over the limit": (b"\x89PNG" + bytes(max_payload), "image/png", 413, "larger than"),
        "JSON of the wrong shape": (pixels([[0.5] * 28] * 27), "application/json", 422, "28 rows"),
        "JSON without pixels": (b'{"image": []}', "application/json", 422, '{"pixels": ...}'),
        "broken JSON": (b'{"pixels": [', "application/json", 400, "not valid JSON"),
        "a NaN pixel": (json.dumps({"pixels": nan_rows}).encode(), "application/json", 422, "not a finite number"),
        "a pixel out of range": (pixels(big_rows), "application/json", 422, "outside [0, 1]"),
        "a pixel too large for a float": (pixels(huge_rows), "application/json", 422, "[9][9] is 10000"),
        "a text pixel": (pixels([["x"] * 28] * 28), "application/json", 422, "not a number"),
        "a true pixel": (pixels(true_rows), "application/json", 422, "[27][27] is True, not a number"),
        "JSON nested too deeply": (b"[" * 5_000 + b"]" * 5_000, "application/json", 400, "nested too deeply"),
        "a number of 5,000 digits": (b'{"pixels": ' + b"9" * 5_000 + b"}", "application/json", 422, "4,300 digits"),
        "a lone surrogate": (pixels(surrogate_rows), "application/json", 422, "[0][0] is '\\ud800', not a number"),
        "an empty body": (b"", "image/png", 400, "empty"),
        "a wrong content type": (seven, "text/plain", 415, "content type"),
        "a blank picture": (png_bytes(Image.new("L", (50, 50), "white")), "image/png", 422, "blank"),
        "a form without a file": (
            b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--x--\r\n",
            "multipart/form-data; boundary=x",
            422,
            "no file",
        ),
    }
