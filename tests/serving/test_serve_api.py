"""The server as a user meets it: started by ``python -m lit_rnn.serve``, asked over HTTP with httpx."""

import json
import signal
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest
import torch
from helpers.pictures import bad_requests, seven_png
from helpers.serving import serving

from lit_rnn.data.datamodule import load_images
from lit_rnn.data.digits import decode_digit
from lit_rnn.runs import results
from lit_rnn.trained.loading import find_checkpoint, load_network

pytestmark = pytest.mark.slow
MAX_PAYLOAD_MB = 0.25


@pytest.fixture(scope="module")
def served(tiny_run):
    with serving(tiny_run, "--max_payload_mb", str(MAX_PAYLOAD_MB)) as server:
        yield server


def expected(run: Path, images: torch.Tensor) -> torch.Tensor:
    """The best checkpoint's probabilities for images in [0, 1], computed here, as predict computes them."""
    network = load_network(run / find_checkpoint("best", run / "lightning_logs")).network
    with torch.inference_mode():
        return network(images).softmax(dim=1)


def test_a_picture_raw_or_uploaded_gets_the_models_answer(served, tiny_run):
    seven = seven_png()
    image = decode_digit(seven, "seven").float() / 255
    probabilities = expected(tiny_run, image[None])[0]
    for answer in (
        httpx.post(f"{served.url}/predict", content=seven, headers={"Content-Type": "image/png"}),
        httpx.post(f"{served.url}/predict", files={"file": ("seven.png", seven, "image/png")}),
    ):
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["digit"] == probabilities.argmax().item()
        assert body["probabilities"] == pytest.approx(probabilities.tolist(), abs=1e-4)
        assert body["probability"] == max(body["probabilities"])
        assert torch.tensor(body["image"]) == pytest.approx(image, abs=1e-4)
        assert len(body["probabilities_by_row"]) == 28 and body["probabilities_by_row"][-1] == body["probabilities"]


def test_pixels_of_test_images_get_the_models_answers(served, tiny_run, tiny_mnist):
    images, _ = load_images(tiny_mnist, train=False)
    images = images[:20].float() / 255
    digits = [httpx.post(f"{served.url}/predict", json={"pixels": image.tolist()}).json()["digit"] for image in images]
    assert digits == expected(tiny_run, images).argmax(dim=1).tolist()


def test_health_info_and_the_description_of_every_field(served, tiny_run):
    assert httpx.get(f"{served.url}/health").text == "ok"
    model = httpx.get(f"{served.url}/info").json()["model"]
    run = tiny_run / "lightning_logs" / "version_0"
    assert (tiny_run / model["checkpoint"]).resolve() == find_checkpoint("best", tiny_run / "lightning_logs").resolve()
    assert model["run"] == "lightning_logs/version_0" and model["settings"]["network"]["init_args"]["cell"] == "lstm"
    assert (model["network"], model["dataset"], model["class_names"]) == (
        "RecurrentNetwork",
        "MNIST",
        list("0123456789"),
    )
    assert model["probabilities_by_row"] is True and model["no_probabilities_by_row"] is None
    assert model["test_accuracy"] == results.read(run)["metrics"]["test/acc"]
    schema = httpx.get(f"{served.url}/openapi.json").json()
    fields = schema["components"]["schemas"]["Prediction"]["properties"]
    assert set(fields) == {"digit", "class_name", "probability", "probabilities", "image", "probabilities_by_row"}
    assert all(field["description"] for field in fields.values())
    assert "image/*" in schema["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert "<canvas" in httpx.get(f"{served.url}/").text


def test_bad_requests_under_load_are_refused_and_the_server_keeps_serving(served):
    good = {"pixels": [[0.0] * 28] * 10 + [[0.0] * 10 + [1.0] * 8 + [0.0] * 10] * 8 + [[0.0] * 28] * 10}
    statuses, stop = [], threading.Event()

    def load() -> None:
        with httpx.Client(base_url=served.url, timeout=30) as client:
            while not stop.is_set():
                statuses.append(client.post("/predict", json=good).status_code)

    clients = [threading.Thread(target=load) for _ in range(8)]
    for thread in clients:
        thread.start()
    server = psutil.Process(served.process.pid)

    def memory() -> int:
        return sum(process.memory_info().rss for process in [server, *server.children(recursive=True)])

    try:
        time.sleep(1)
        before = memory()
        for _ in range(3):
            for case, (body, content_type, status, phrase) in bad_requests(int(MAX_PAYLOAD_MB * 2**20)).items():
                answer = httpx.post(f"{served.url}/predict", content=body, headers={"Content-Type": content_type})
                assert answer.status_code == status, (case, answer.text)
                assert phrase in answer.json()["detail"], case
        grown = memory() - before
    finally:
        stop.set()
        for thread in clients:
            thread.join()
    assert len(statuses) > 20 and set(statuses) == {200}
    assert grown < 50 * 2**20, f"the server's memory grew by {grown / 2**20:.0f} MB"


def test_the_api_key_guards_the_api_and_sigterm_answers_the_held_requests(tiny_run):
    with serving(tiny_run, "--max_batch_size", "8", "--batch_timeout", "1.5", env={"LIT_RNN_API_KEY": "k3y"}) as server:
        assert httpx.get(f"{server.url}/health").status_code == 200 and httpx.get(server.url).status_code == 200
        assert httpx.get(f"{server.url}/info").status_code == 401
        refused = httpx.post(f"{server.url}/predict", content=seven_png())
        assert refused.status_code == 401 and json.loads(refused.text)["detail"].endswith("header.")
        answers = []

        def ask() -> None:  # waits in the worker for a batch of 8 that never fills, up to 1.5 s
            answers.append(httpx.post(f"{server.url}/predict", content=seven_png(), headers={"X-API-Key": "k3y"}))

        askers = [threading.Thread(target=ask) for _ in range(3)]
        for thread in askers:
            thread.start()
        time.sleep(0.5)
        code, out, err = server.stop(signal.SIGTERM)
        for thread in askers:
            thread.join()
    assert [answer.status_code for answer in answers] == [200] * 3
    assert code == 143 and err.strip().splitlines()[-1].startswith("error: Stopped by SIGTERM after answering")
    assert "The page: http://127.0.0.1:" in out


def test_ctrl_c_stops_the_server_with_one_line(served):  # last: it stops the module's server
    code, _, err = served.stop(signal.SIGINT)
    assert code == 130 and err.strip().splitlines() == [
        "error: Stopped by SIGINT after answering the requests it held; nothing was written."
    ]
