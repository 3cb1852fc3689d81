"""No body makes the server fail: whatever ``POST /predict`` carries, it is answered with the model's reading or
refused with a 4xx status and one sentence (the bad-request table of docs/serving.md). Each class of body that broke a
server once, with cases of its own, then bodies made at random and good bodies broken at random."""

import json
import random

import pytest
from helpers.pictures import BLANK_ROWS, pixels, png_bytes, seven_png
from PIL import Image
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.testclient import TestClient

from lit_rnn.serving.intake import Intake, image_of

REFUSALS = {400, 413, 415, 422}  # the statuses of the bad-request table
MAX_PAYLOAD = 2 * 2**20
JSON = "application/json"


async def answer_the_image(payload: dict) -> JSONResponse:
    image_of(payload)  # the image reaches the model whole
    return JSONResponse({"digit": 0})


CLIENT = TestClient(Intake(Starlette(), answer_the_image, max_payload=MAX_PAYLOAD))


def nested(depth: int, inner: str = "0.5") -> str:
    return "[" * depth + inner + "]" * depth


def with_pixel(text: str, row: int = 3, column: int = 4) -> bytes:
    """JSON pixels of a blank image whose pixel [row][column] is the JSON text ``text``, as written."""
    rows = [[json.dumps(value) for value in line] for line in BLANK_ROWS]
    rows[row][column] = text
    return ('{"pixels": [' + ", ".join("[" + ", ".join(line) + "]" for line in rows) + "]}").encode()


def good() -> bytes:
    return pixels(BLANK_ROWS)


# Each class: its cases, (body, content type); every one is refused, or read when it is a good image.
CLASSES = {
    "JSON nested deeply": [
        (nested(1025).encode(), JSON),
        (nested(5_000).encode(), JSON),
        (nested(100_000).encode(), JSON),
        (b'{"pixels": ' + nested(3_000).encode() + b"}", JSON),
        (with_pixel(nested(2_000)), JSON),
        (b'{"pixels": [], "x": ' + nested(50_000).encode() + b"}", JSON),
        ((b'{"a":' * 4_000) + b"1" + b"}" * 4_000, JSON),
        (with_pixel(nested(900)), JSON),  # within orjson's depth: refused as a pixel that is not a number
    ],
    "whole numbers of many digits": [
        (with_pixel("1" + "0" * 19), JSON),  # beyond 64 bits
        (with_pixel("9" * 400), JSON),
        (with_pixel("-" + "9" * 4_300), JSON),
        (with_pixel("1" * 4_301), JSON),
        (with_pixel("7" * 100_000), JSON),
        (b'{"pixels": ' + b"1" * 10_000 + b"}", JSON),
        (b'{"other": ' + b"2" * 5_000 + b', "pixels": []}', JSON),
    ],
    "huge floats, NaN and Infinity": [
        (with_pixel("1e400"), JSON),
        (with_pixel("-1e400"), JSON),
        (with_pixel("NaN"), JSON),
        (with_pixel("Infinity"), JSON),
        (with_pixel("-Infinity"), JSON),
        (with_pixel("1.7976931348623157e309"), JSON),
        (with_pixel("1" + "0" * 400 + ".5"), JSON),
        (b'{"pixels": NaN}', JSON),
        (b"Infinity", JSON),
    ],
    "wrong types at any depth": [
        (b"null", JSON),
        (b"[]", JSON),
        (b'"pixels"', JSON),
        (b"12", JSON),
        (b"true", JSON),
        (b'{"pixels": null}', JSON),
        (b'{"pixels": {"0": [0]}}', JSON),
        (b'{"pixels": "' + b"0" * 784 + b'"}', JSON),
        (pixels([{"row": 1}] + BLANK_ROWS[1:]), JSON),
        (pixels(BLANK_ROWS[:27] + [None]), JSON),
        (with_pixel("null"), JSON),
        (with_pixel('{"value": 0.5}'), JSON),
        (with_pixel("[0.5]"), JSON),
        (with_pixel("false"), JSON),
        (with_pixel('"0.5"'), JSON),
        (pixels([[[0.0] * 28] * 28] * 28), JSON),
    ],
    "big and odd strings": [
        (with_pixel(json.dumps("x" * 1_000_000)), JSON),
        (b'{"' + b"k" * 1_000_000 + b'": 1}', JSON),
        (with_pixel('"\\ud800"'), JSON),  # a lone surrogate, which orjson refuses and json reads
        (with_pixel('"\\udfff\\ud800"'), JSON),
        (with_pixel('"\\u0000"'), JSON),
        (b'{"pixels": "\\ud83d"}', JSON),
        (with_pixel(json.dumps("\u202e" * 10_000)), JSON),
    ],
    "invalid UTF-8 and other encodings": [
        (b'{"pixels": "\xff"}', JSON),
        (b"\xff\xfe\xfd", JSON),
        (b'{"pixels": "\xe2\x82"}', JSON),  # a character cut short
        (b'{"pixels": "\xc0\xaf"}', JSON),  # an overlong encoding
        (b'{"pixels": "\xed\xa0\x80"}', JSON),  # a surrogate encoded
        (good().decode().encode("utf-16"), JSON),  # UTF-16 with its mark: JSON allows it, the pixels are good
        (good().decode().encode("utf-32-le"), JSON),
        (b"\xef\xbb\xbf" + good(), JSON),  # UTF-8 with a byte-order mark
    ],
    "duplicate keys": [
        (b'{"pixels": [], "pixels": ' + json.dumps(BLANK_ROWS).encode() + b"}", JSON),  # the last one counts
        (b'{"pixels": ' + json.dumps(BLANK_ROWS).encode() + b', "pixels": "no"}', JSON),
        (b'{"pixels": ' + json.dumps(BLANK_ROWS).encode() + b', "pixels": ' + nested(3_000).encode() + b"}", JSON),
    ],
    "empty bodies": [
        (b"", JSON),
        (b"", "image/png"),
        (b"", ""),
        (b"", "multipart/form-data; boundary=x"),
        (b"   \n\t ", JSON),
        (b"\x00", JSON),
    ],
    "forms that are not a picture": [
        (
            b"--x\r\nContent-Disposition: form-data; name=file; filename=a.png\r\n\r\nhello\r\n--x--\r\n",
            "multipart/form-data; boundary=x",
        ),  # fmt: skip
        (
            b"--x\r\nContent-Disposition: form-data; name=file; filename=a.png\r\n\r\n",
            "multipart/form-data; boundary=x",
        ),
        (
            b"--x\r\nContent-Disposition: form-data; name=file; filename=a.png\r\n\r\n\r\n--x--\r\n",
            "multipart/form-data; boundary=x",
        ),  # fmt: skip
        (b"not a form at all", "multipart/form-data; boundary=x"),
        (b"not a form at all", "multipart/form-data"),
        (b"--y\r\n\r\n--y--\r\n", "multipart/form-data; boundary=x"),
        (
            b"--x\r\nContent-Disposition: form-data; name=a; filename=1\r\n\r\n1\r\n"
            b"--x\r\nContent-Disposition: form-data; name=b; filename=2\r\n\r\n2\r\n--x--\r\n",
            "multipart/form-data; boundary=x",
        ),  # fmt: skip
        (
            b"--x\r\nContent-Disposition: form-data; name=\xff\xfe; filename=\xff\r\n\r\n\x89PNG\r\n--x--\r\n",
            "multipart/form-data; boundary=x",
        ),  # fmt: skip
        (b"file=seven.png", "application/x-www-form-urlencoded"),
    ],
    "odd content types": [
        (good(), "application/json; charset=latin-1"),
        (good(), "APPLICATION/JSON"),
        (good(), "application/problem+json"),
        (seven_png(), "text/html"),
        (seven_png(), "image/png; \xff"),
        (good(), "image/png"),  # JSON called a picture
        (seven_png(), JSON),  # a picture called JSON
    ],
}


def check(body: bytes, content_type: str) -> int:
    """Post the body; its answer is the model's or one sentence with a refusal's status. Returns the status."""
    headers = {"Content-Type": content_type.encode("latin-1")} if content_type else {}
    response = CLIENT.post("/predict", content=body, headers=headers)
    if response.status_code == 200:
        assert response.json() == {"digit": 0}
        return 200
    assert response.status_code in REFUSALS, (response.status_code, response.text[:300])
    (sentence,) = response.json().values()
    assert sentence.endswith(".") and "\n" not in sentence and len(sentence) < 500, sentence[:600]
    return response.status_code


@pytest.mark.parametrize("name", list(CLASSES))
def test_each_class_of_bad_body_is_refused_in_one_sentence(name):
    statuses = [check(body, kind) for body, kind in CLASSES[name]]
    good_ones = {"duplicate keys": 1, "invalid UTF-8 and other encodings": 3, "odd content types": 4}
    assert statuses.count(200) == good_ones.get(name, 0), statuses


def test_the_refusals_say_what_was_wrong():
    def sentence(body: bytes) -> str:
        return CLIENT.post("/predict", content=body, headers={"Content-Type": JSON}).json()["detail"]

    assert "nested too deeply" in sentence(nested(5_000).encode())
    assert "more than 4,300 digits" in sentence(with_pixel("1" * 4_301))
    assert "[3][4] is 111111111111111111...1111111111111111111, outside [0, 1]" in sentence(with_pixel("1" * 400))
    assert "[3][4] is 'xxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxx', not a number" in sentence(
        with_pixel(json.dumps("x" * 10**6))
    )
    assert "[3][4] is '\\ud800', not a number" in sentence(with_pixel('"\\ud800"'))
    assert "[3][4] is [[[...]]], not a number" in sentence(with_pixel(nested(900)))
    assert "not a finite number" in sentence(with_pixel("-Infinity"))


def random_json(rng: random.Random, depth: int = 0):  # noqa: ANN201
    """A JSON value of any type, nested a little, numbers of every kind."""
    choice = rng.randrange(9 if depth < 4 else 6)
    if choice == 0:
        return None
    if choice == 1:
        return rng.random() < 0.5
    if choice == 2:
        return rng.choice([0, 1, -1, 2**64, -(10**30), rng.randrange(-1000, 1000)])
    if choice == 3:
        return rng.choice([0.5, -0.0, 1e308, 1e-320, rng.uniform(-2, 2)])
    if choice in (4, 5):
        return "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(8)))
    if choice in (6, 7):
        return [random_json(rng, depth + 1) for _ in range(rng.choice([0, 1, 27, 28, 29]))]
    return {rng.choice(["pixels", "image", "", "p"]): random_json(rng, depth + 1) for _ in range(rng.randrange(3))}


def test_bodies_made_at_random_are_answered_or_refused():
    rng = random.Random(31)
    kinds = [JSON, "image/png", "", "multipart/form-data; boundary=x", "text/plain"]
    for _ in range(150):
        check(json.dumps(random_json(rng)).encode(), JSON)
        check(json.dumps({"pixels": [random_json(rng) for _ in range(28)]}).encode(), JSON)
        check(rng.randbytes(rng.randrange(1, 400)), rng.choice(kinds))


def test_good_bodies_broken_at_random_are_answered_or_refused():
    rng = random.Random(29)
    rows = [[round(rng.random(), 3) for _ in range(28)] for _ in range(28)]
    form = b"--x\r\nContent-Disposition: form-data; name=file; filename=s.png\r\n\r\n" + seven_png() + b"\r\n--x--\r\n"
    goods = [
        (pixels(rows), JSON),
        (seven_png(), "image/png"),
        (png_bytes(Image.new("RGBA", (40, 40))), "image/png"),
        (form, "multipart/form-data; boundary=x"),
    ]
    for body, kind in goods:
        assert check(body, kind) in (200, 422)
        for _ in range(60):
            broken = bytearray(body)
            for _ in range(rng.randrange(1, 6)):
                broken[rng.randrange(len(broken))] = rng.randrange(256)
            if rng.random() < 0.3:
                broken = broken[: rng.randrange(len(broken))]
            check(bytes(broken), kind)
