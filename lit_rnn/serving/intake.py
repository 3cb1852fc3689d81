"""What reaches the model: every request passes here before LitServe sees it (an ASGI middleware, given to
LitServer's public ``middlewares=``).

LitServe reads a request's body as JSON or a form, and only in its worker; a raw picture cannot reach it. So the
body of ``POST /predict`` is read here, in the HTTP process, refused in one sentence if it is not a digit the
model can read, and otherwise handed to the endpoint LitServe registered for ``/predict`` (its queues, batching and
workers), called as FastAPI would call it, with the one body the model takes, ``{"image": its 28x28 float32 bytes}``
(``image_of`` reads it back). FastAPI's routing, which would only pass the request on, is not run for it: in the
process every request passes through, it took a quarter of the time. Its answer is compressed here, at gzip's
quickest level (LitServe's own GZip, at level 9, then leaves it as it is). The page at ``/`` is answered here too, and
the API key is checked, for every path but the page, ``/health`` and the API's description.
"""

import hmac
import json
import math
import reprlib
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import numpy
import orjson
import torch
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lit_rnn.data.digits import BLANK, MNIST_SIZE, ImageError, decode_digit

OPEN_PATHS = {"/", "/health", "/docs", "/openapi.json"}  # the page asks for the key itself; the docs hold no data
KEY_HEADER = "x-api-key"
MAX_PIXELS = 4_000_000  # a picture this size takes ~100 MB to read; a few hundred pixels a side are plenty
PICTURE_TYPES = ("image/", "application/octet-stream")
SHAPE = f"{MNIST_SIZE} rows of {MNIST_SIZE} numbers in [0, 1]"
# JSON pixels this short are read in the event loop (a fraction of a millisecond): a thread's round trip costs more
INLINE_BYTES = 64 * 2**10
GZIP_LEVEL = 1  # gzip's default, 9, takes 20 times the work of 1, for answers a fifth smaller
GZIP_MINIMUM = 1000  # bytes: LitServe's threshold for its own compression
# What a refusal quotes of a value the client sent: a few dozen characters of it, however long or deep it is.
QUOTED = reprlib.Repr()
QUOTED.maxlevel, QUOTED.maxlist, QUOTED.maxdict = 2, 3, 3
QUOTED.maxstring = QUOTED.maxlong = QUOTED.maxother = 40


class Refused(Exception):
    """A request the server will not answer: its HTTP status and one sentence saying what was wrong."""

    def __init__(self, status: int, sentence: str) -> None:
        super().__init__(sentence)
        self.status = status


Predict = Callable[[dict[str, Any]], Awaitable[Response]]


class Intake:
    """ASGI middleware: the API key, the payload limit, the page, and ``/predict``: its body made into an MNIST image,
    answered.

    Args:
        app: The LitServe application behind it, for every other request.
        predict: The ``/predict`` handler: takes ``{"image": ...}``, answers the worker's response. None: the endpoint
            that LitServe registered for ``POST /predict`` in the application serving the request.
        api_key: The key every request but ``OPEN_PATHS`` must carry in ``X-API-Key``, compared with its UTF-8 bytes;
            None for none.
        max_payload: The largest body accepted, in bytes.
        page: The HTML answered at ``/``; None: ``/`` is the application's.
    """

    def __init__(
        self,
        app: ASGIApp,
        predict: Predict | None = None,
        api_key: str | None = None,
        max_payload: int = 4 * 2**20,
        page: str | None = None,
    ) -> None:
        self.app, self.predict, self.max_payload = app, predict, max_payload
        self.api_key = None if api_key is None else api_key.encode()
        self.page = page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._check_key(scope)
            if scope["path"] == "/" and self.page is not None and scope["method"] in ("GET", "HEAD"):
                await HTMLResponse(self.page)(scope, receive, send)  # a new one: GZip rewrites its headers
                return
            if scope["path"] != "/predict":
                await self.app(scope, receive, send)
                return
            if scope["method"] != "POST":
                raise Refused(405, "/predict takes POST requests: a picture, a multipart file or JSON pixels.")
            body = await self._read_body(scope, receive)
            kind = _header(scope, "content-type").split(";")[0].strip().lower()
            if kind == "multipart/form-data" and body:
                body, kind = await _uploaded(scope, body, self.max_payload), "application/octet-stream"
            small = len(body) <= INLINE_BYTES and kind == "application/json"
            image = to_image(kind, body) if small else await run_in_threadpool(to_image, kind, body)
            if self.predict is None:  # this middleware serves one application: its endpoint is found once
                self.predict = _litserve_predict(scope)
            answer = await self.predict({"image": image.float().contiguous().numpy().tobytes()})
        except Refused as refusal:
            allowed = {"Allow": "POST"} if refusal.status == 405 else None
            answer = JSONResponse({"detail": _sendable(str(refusal))}, refusal.status, allowed)
        except HTTPException as error:  # raised by LitServe: a worker's error, or its timeout
            answer = JSONResponse({"detail": error.detail}, error.status_code, error.headers)
        await GZipMiddleware(answer, GZIP_MINIMUM, GZIP_LEVEL)(scope, receive, send)

    def _check_key(self, scope: Scope) -> None:
        """The key as sent, byte for byte, against the key's UTF-8 bytes, in constant time: curl and httpx send a
        non-ASCII key as UTF-8; its Latin-1 bytes (a browser's for a text of Latin-1 letters) are another key."""
        if self.api_key is None or scope["path"] in OPEN_PATHS:
            return
        given = _raw_header(scope, KEY_HEADER)
        if not given:
            raise Refused(401, "This server needs an API key: send it in the X-API-Key header.")
        if not hmac.compare_digest(given, self.api_key):
            raise Refused(401, "The API key in the X-API-Key header is not this server's.")

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        """The whole body, refused as soon as it is known to pass the limit (by its header, or as it arrives)."""
        too_large = Refused(413, f"The body is larger than this server's limit of {self.max_payload:,} bytes.")
        declared = _header(scope, "content-length")
        if declared.isascii() and declared.isdigit() and int(declared) > self.max_payload:
            raise too_large
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise Refused(400, "The client went away before sending the whole body.")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_payload:
                raise too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def image_of(request: dict[str, Any]) -> torch.Tensor:
    """The MNIST image ``(28, 28)`` that ``Intake`` passed on in ``request``."""
    return torch.frombuffer(bytearray(request["image"]), dtype=torch.float32).view(MNIST_SIZE, MNIST_SIZE)


def _raw_header(scope: Scope, name: str) -> bytes:
    for key, value in scope["headers"]:
        if key == name.encode():
            return value.strip()
    return b""


def _header(scope: Scope, name: str) -> str:
    return _raw_header(scope, name).decode("latin-1")


def _litserve_predict(scope: Scope) -> Predict:
    """The endpoint LitServe registered for ``POST /predict`` in the application serving this request (Starlette
    names it in the scope); it takes the body as ``decode_request`` declares it, a dict."""
    return next(
        route.endpoint
        for route in scope["app"].routes
        if getattr(route, "path", None) == "/predict" and "POST" in getattr(route, "methods", ())
    )


def _sendable(sentence: str) -> str:
    """The sentence as JSON can carry it: a lone surrogate, from a JSON escape the client sent, as its escape."""
    return sentence.encode("utf-8", "backslashreplace").decode()


def to_image(kind: str, body: bytes) -> torch.Tensor:
    """The MNIST image ``(28, 28)``, floats in [0, 1], that a ``/predict`` body of content type ``kind`` holds.

    Raises:
        Refused: saying in one sentence what is wrong with it.
    """
    if not body:
        raise Refused(400, 'The body is empty: send a picture of one digit, or JSON {"pixels": 28 rows of 28 numbers}.')
    if kind == "application/json" or kind.endswith("+json"):
        return pixels_image(_json(body))
    if not kind or kind.startswith(PICTURE_TYPES):
        return _picture(body)
    raise Refused(
        415,
        f"The content type {kind} is not one /predict reads: send a picture (image/png, image/jpeg, ...), "
        "multipart/form-data with one file, or application/json.",
    )


def _picture(data: bytes) -> torch.Tensor:
    try:
        return decode_digit(data, "The picture", MAX_PIXELS).float() / 255
    except ImageError as error:
        raise Refused(422 if str(error).endswith(BLANK) else 400, str(error)) from None  # readable, but no digit


def _json(body: bytes) -> Any:
    """The body's JSON, read by orjson (8 times quicker for 784 numbers); what it refuses (NaN, numbers beyond a
    double, lone surrogates, nesting over 1,024 deep, invalid JSON) is read again by Python's json, which reads the
    first three and names the fault of the last; what neither reads is refused in one sentence."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Refused(400, f"The body is not valid JSON ({error}).") from None
    except RecursionError:
        raise Refused(400, f'The body\'s JSON is nested too deeply to read: send {{"pixels": {SHAPE}}}.') from None
    except ValueError:  # a whole number of more digits than Python converts
        raise Refused(
            422,
            f"The JSON holds a number of more than {sys.get_int_max_str_digits():,} digits: pixels must be {SHAPE}.",
        ) from None


def pixels_image(document: Any) -> torch.Tensor:
    """``{"pixels": 28 rows of 28 numbers in [0, 1]}`` as an image, each fault refused with where it is."""
    rows = document.get("pixels") if isinstance(document, dict) else None
    if not isinstance(rows, list) or len(rows) != MNIST_SIZE:
        raise Refused(422, f'The JSON must be an object {{"pixels": ...}} holding {SHAPE}.')
    image = _good_pixels(rows)
    if image is not None:
        return image
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != MNIST_SIZE:
            raise Refused(422, f"Row {index} of pixels is not a list of {MNIST_SIZE} numbers: pixels must be {SHAPE}.")
        for column, value in enumerate(row):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                shown = QUOTED.repr(value)
                raise Refused(422, f"Pixel [{index}][{column}] is {shown}, not a number: pixels must be {SHAPE}.")
            if isinstance(value, float) and not math.isfinite(value):  # a whole number is finite, however large
                raise Refused(
                    422, f"Pixel [{index}][{column}] is {value!r}, not a finite number: pixels must be {SHAPE}."
                )
            if not 0 <= value <= 1:
                shown = QUOTED.repr(value)  # a whole number of hundreds of digits, shortened
                raise Refused(422, f"Pixel [{index}][{column}] is {shown}, outside [0, 1]: pixels must be {SHAPE}.")
    return torch.tensor(rows, dtype=torch.float32)


def _good_pixels(rows: list) -> torch.Tensor | None:
    """The image, if ``rows`` are 28 lists of 28 numbers in [0, 1], checked all at once; else None, and
    ``pixels_image`` finds the first fault (ten times slower, number by number)."""
    if not all(isinstance(row, list) and len(row) == MNIST_SIZE for row in rows):
        return None
    if not {type(value) for row in rows for value in row} <= {int, float}:  # bool, str, None, or a list
        return None
    try:
        image = numpy.array(rows, dtype=numpy.float64)  # from lists: 3 times quicker than torch.tensor
    except OverflowError:  # a whole number too large for a float
        return None
    if not ((image >= 0) & (image <= 1)).all():  # NaN fails both
        return None
    return torch.from_numpy(image.astype(numpy.float32))


async def _uploaded(scope: Scope, body: bytes, max_payload: int) -> bytes:
    """The one file of a multipart form (the page's upload, ``curl -F file=@seven.png``)."""

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(scope, receive).form(max_files=1, max_part_size=max_payload)
    except Exception as error:  # python-multipart's and Starlette's many ways to say a form is malformed
        raise Refused(400, f"The multipart form could not be read ({getattr(error, 'detail', error)}).") from None
    try:
        files = [value for _, value in form.multi_items() if hasattr(value, "read")]
        if not files:
            raise Refused(
                422, "The multipart form holds no file: send the picture as a file field (-F file=@seven.png)."
            )
        return await files[0].read()
    finally:
        await form.close()
