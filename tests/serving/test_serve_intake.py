"""What reaches the model: the intake before LitServe, in this process, handing ``/predict`` to a handler that answers
the image it gets, in front of an app for the other paths."""

import asyncio
import json

import pytest
import torch
from helpers.pictures import BLANK_ROWS, bad_requests, pixels, seven_png
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from torchvision.datasets import FashionMNIST

from lit_rnn.data.digits import decode_digit
from lit_rnn.model.networks.recurrent import RecurrentNetwork
from lit_rnn.serving.digit_api import answer_bodies, read_digits
from lit_rnn.serving.intake import Intake, image_of

DIGITS = [str(digit) for digit in range(10)]
MAX_PAYLOAD = 200_000


async def empty(request: Request) -> JSONResponse:
    return JSONResponse({})


async def answer_the_image(payload: dict) -> JSONResponse:
    """LitServe's handler, as far as the intake sees it: the payload in, the worker's response out."""
    return JSONResponse({"image": image_of(payload).tolist()})


def client(api_key: str | None = None, predict=answer_the_image) -> TestClient:
    app = Starlette(routes=[Route("/info", empty), Route("/health", empty)])
    return TestClient(Intake(app, predict, api_key=api_key, max_payload=MAX_PAYLOAD))


def test_a_picture_raw_or_uploaded_reaches_the_model_as_predict_reads_it():
    seven = seven_png()
    expected = decode_digit(seven, "seven").float() / 255
    for response in (
        client().post("/predict", content=seven, headers={"Content-Type": "image/png"}),
        client().post("/predict", content=seven),  # no content type: a picture
        client().post("/predict", files={"file": ("seven.png", seven, "image/png")}),
    ):
        assert response.status_code == 200, response.text
        assert torch.equal(torch.tensor(response.json()["image"]), expected)


def test_pixels_reach_the_model_as_given():
    rows = [[(row * 28 + column) / 783 for column in range(28)] for row in range(28)]
    rows[3][4], rows[5][6] = 0, 1  # whole numbers too
    response = client().post("/predict", content=pixels(rows), headers={"Content-Type": "application/json"})
    assert torch.equal(torch.tensor(response.json()["image"]), torch.tensor(rows, dtype=torch.float32))


@pytest.mark.parametrize("case", list(bad_requests(MAX_PAYLOAD)))
def test_each_bad_request_is_refused_in_one_sentence(case):
    body, content_type, status, phrase = bad_requests(MAX_PAYLOAD)[case]
    response = client().post("/predict", content=body, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    (sentence,) = response.json().values()
    assert phrase in sentence and sentence.endswith(".") and "\n" not in sentence
    assert "image" not in response.json()  # the model's side never saw it


def test_predict_takes_posts_alone_and_passes_on_litserves_refusals_as_json():
    response = client().get("/predict")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert response.json() == {"detail": "/predict takes POST requests: a picture, a multipart file or JSON pixels."}

    async def timed_out(payload: dict) -> JSONResponse:
        raise HTTPException(504, "Request timed out")

    json_type = {"Content-Type": "application/json"}
    response = client(predict=timed_out).post("/predict", content=pixels(BLANK_ROWS), headers=json_type)
    assert (response.status_code, response.json()) == (504, {"detail": "Request timed out"})


def test_the_api_key_guards_all_but_the_page_and_health():
    guarded = client(api_key="s3cret")
    assert guarded.get("/health").status_code == 200
    assert guarded.get("/info").status_code == 401
    refused = guarded.post("/predict", content=pixels(BLANK_ROWS), headers={"Content-Type": "application/json"})
    assert refused.status_code == 401 and "X-API-Key" in refused.json()["detail"]
    wrong = guarded.get("/info", headers={"X-API-Key": "guess"})
    assert wrong.status_code == 401 and "not this server's" in wrong.json()["detail"]
    right = {"X-API-Key": "s3cret", "Content-Type": "application/json"}
    assert guarded.post("/predict", content=pixels(BLANK_ROWS), headers=right).status_code == 200


def test_the_answer_holds_the_opinion_by_row_ending_in_the_answer():
    network = RecurrentNetwork(hidden_size=8).eval()
    images = torch.rand(3, 28, 28)
    answers = read_digits(network, images, by_row=True, class_names=DIGITS)
    expected = network(images).softmax(dim=1)
    for answer, probabilities in zip(answers, expected):
        assert answer["digit"] == probabilities.argmax().item() and answer["class_name"] == str(answer["digit"])
        assert answer["probabilities"] == pytest.approx(probabilities.tolist(), abs=1e-4)
        assert answer["probabilities_by_row"][-1] == answer["probabilities"]
        assert len(answer["probabilities_by_row"]) == 28 and len(answer["image"]) == 28
    assert (
        read_digits(RecurrentNetwork(hidden_size=8, bidirectional=True).eval(), images, False, DIGITS)[0][
            "probabilities_by_row"
        ]
        is None
    )


def test_the_answers_json_is_json_dumps_of_the_answer():
    for bidirectional in (False, True):
        network = RecurrentNetwork(hidden_size=8, bidirectional=bidirectional).eval()
        images = torch.cat([torch.rand(5, 28, 28), torch.zeros(1, 28, 28), torch.ones(1, 28, 28)])
        images[0, 0, :3] = torch.tensor([0.00005, 0.00015, 0.99995])  # halfway between two steps: rounded to even
        for names in (DIGITS, FashionMNIST.classes):  # "T-shirt/top", as json.dumps writes it
            answers = read_digits(network, images, not bidirectional, names)
            assert answer_bodies(network, images, not bidirectional, names) == [
                json.dumps(answer, allow_nan=False).encode() for answer in answers
            ]
            assert {answer["class_name"] for answer in answers} <= set(names)
    with pytest.raises(ValueError, match="NaN"):
        answer_bodies(network, torch.full((1, 28, 28), float("nan")), False, DIGITS)


def test_a_port_in_use_is_one_line_before_the_model_loads(tmp_path, capsys):
    import socket

    from lit_rnn.serve import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(SystemExit) as exit:
            main(["--port", str(taken.getsockname()[1]), "--ckpt_path", str(tmp_path / "none.ckpt")])
    assert exit.value.code == 2
    assert "Address already in use): give another --port." in capsys.readouterr().err


@pytest.mark.parametrize(
    ("key", "sent", "status"),
    [
        ("s3cret", b"s3cret", 200),
        ("ключ", "ключ".encode(), 200),  # as curl and httpx send it: UTF-8
        ("café", "café".encode(), 200),
        ("café", "café".encode("latin-1"), 401),  # Latin-1 bytes: another key
        ("鍵🔑", "鍵🔑".encode(), 200),
        ("鍵🔑", "鍵".encode(), 401),
        ("s3cret", b"s3cre", 401),
        ("s3cret", b"s3cret\xff", 401),
        ("s3cret", b"  s3cret ", 200),  # HTTP strips the spaces around a header's value
    ],
)
def test_the_api_key_is_compared_as_its_utf8_bytes(key, sent, status):
    """Asked in ASGI, the header's bytes as they arrive (Starlette's test client would encode them again)."""
    sent_messages = []

    async def receive() -> dict:
        return {"type": "http.request", "body": pixels(BLANK_ROWS), "more_body": False}

    async def send(message: dict) -> None:
        sent_messages.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/predict",
        "headers": [(b"x-api-key", sent), (b"content-type", b"application/json")],
    }
    asyncio.run(Intake(Starlette(), answer_the_image, api_key=key)(scope, receive, send))
    assert sent_messages[0]["status"] == status


def test_the_page_is_answered_at_the_root_and_the_rest_goes_on():
    intake = Intake(Starlette(routes=[Route("/info", empty)]), answer_the_image, page="<canvas>" * 200)
    served = TestClient(GZipMiddleware(intake, minimum_size=1000))  # as LitServe wraps its middlewares
    for _ in range(2):  # the same page again, compressed or not
        for encoding in ("gzip", "identity"):
            assert served.get("/", headers={"Accept-Encoding": encoding}).text == "<canvas>" * 200
    assert served.get("/info").json() == {}
    large = served.post("/predict", content=pixels(BLANK_ROWS), headers={"Content-Type": "application/json"})
    assert large.headers["content-encoding"] == "gzip" and len(large.json()["image"]) == 28  # compressed by the intake
