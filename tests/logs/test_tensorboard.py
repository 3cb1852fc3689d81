"""TensorBoard itself, served on localhost, shows a run's scalars, pictures and hyperparameters."""

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

STARTUP_SECONDS = 90


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ask(url: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def tensorboard(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory):
    """The base URL of ``tensorboard --logdir lightning_logs`` serving the tiny run, once it lists the run."""
    port, log = free_port(), tmp_path_factory.mktemp("tensorboard") / "tensorboard.log"
    command = [
        sys.executable,
        "-m",
        "tensorboard.main",
        "--logdir",
        str(tiny_run / "lightning_logs"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--load_fast",
        "false",
    ]
    with log.open("w") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/data"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:  # TensorBoard answers first, then reads the event files in the background
            assert server.poll() is None, f"tensorboard exited: {log.read_text()[-2000:]}"
            try:
                if "version_0" in ask(f"{base}/plugin/scalars/tags"):
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert time.monotonic() < deadline, (
                f"tensorboard did not list the run in {STARTUP_SECONDS} s: {log.read_text()[-2000:]}"
            )
            time.sleep(0.5)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_the_scalars_images_and_hparams_plugins_are_active(tensorboard):
    plugins = ask(f"{tensorboard}/plugins_listing")
    assert all(plugins[name]["enabled"] for name in ("scalars", "images", "hparams"))


def test_scalars_list_the_metrics_and_the_accuracy_per_digit(tensorboard):
    tags = ask(f"{tensorboard}/plugin/scalars/tags")["version_0"]
    assert {"train/loss", "val/acc", "val/acc_best", "test/acc", "lr-Adam"} <= set(tags)
    assert {f"test_per_digit/acc_{digit}" for digit in range(10)} <= set(tags)


def test_images_list_the_digits_the_confusion_matrices_and_the_mistakes(tensorboard):
    tags = ask(f"{tensorboard}/plugin/images/tags")["version_0"]
    expected = {
        "train/digits",
        "val/confusion_matrix",
        "val/worst_mistakes",
        "test/confusion_matrix",
        "test/worst_mistakes",
    }
    assert expected <= set(tags)
    matrices = ask(f"{tensorboard}/plugin/images/images?run=version_0&tag=val/confusion_matrix")
    assert len(matrices) == 2  # one per validation: the tiny fit has two epochs


def test_hparams_compare_runs_on_real_metrics(tensorboard):
    experiment = ask(f"{tensorboard}/plugin/hparams/experiment", {"experimentName": ""})
    assert {info["name"]["tag"] for info in experiment["metricInfos"]} == {"val/acc_best", "test/acc"}
    assert {"network", "network.hidden_size", "network.cell", "data.batch_size"} <= {
        info["name"] for info in experiment["hparamInfos"]
    }
