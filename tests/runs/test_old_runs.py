"""Runs made by earlier versions still resume, test, predict, export and serve: one from before the package was laid
out in rooms (``tests/fixtures/run_from_ca286ea``: its ``config.yaml`` names ``lit_rnn.profiling.NoProfiler``), and
one from before networks were components (``run_from_4ceb48b``: its recurrent settings are the model's own, its
input standardized by MNIST's published mean and std, two rows a step with two cropped)."""

import importlib
import shutil
import sys
from pathlib import Path

import httpx
import pytest
import torch
from helpers.commands import TESTS
from helpers.serving import serving

from lit_rnn import export, fit, predict, test
from lit_rnn.runs.old_runs import upgrade_config
from lit_rnn.trained.loading import load_network

OLD_RUNS = [TESTS / "fixtures" / "run_from_ca286ea", TESTS / "fixtures" / "run_from_4ceb48b"]


@pytest.fixture(params=OLD_RUNS, ids=[path.name for path in OLD_RUNS])
def old_run(request, tmp_path, monkeypatch) -> Path:
    shutil.copytree(request.param, tmp_path / "lightning_logs")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lit_rnn"])  # pytest's own arguments are not the commands'
    return tmp_path / "lightning_logs" / "version_0"


def test_an_old_run_resumes_where_it_stopped(old_run, tiny_mnist):
    assert "  hidden_size: 4\n" in (old_run / "config.yaml").read_text()  # the model's own setting, then
    fit.main(
        [
            "--config",
            str(old_run / "config.yaml"),
            "--data.data_dir",
            str(tiny_mnist),
            "--ckpt_path",
            "last",
            "--trainer.max_epochs",
            "2",
        ]
    )
    newest = torch.load(old_run / "checkpoints" / "recovery.ckpt", weights_only=False)
    assert newest["global_step"] == 6  # three steps an epoch: the second epoch added its three
    assert not (old_run.parent / "version_1").exists()


def test_an_old_run_tests_predicts_and_exports(old_run, tiny_mnist):
    checkpoint = ["--ckpt_path", str(old_run / "checkpoints" / "last.ckpt"), "--data.data_dir", str(tiny_mnist)]
    assert 0 <= test.main(checkpoint).accuracy <= 1
    assert len(predict.main([*checkpoint, "--indices", "0-4"])) == 5
    export.main([*checkpoint, "--output", "model.onnx"])
    assert Path("model.onnx").stat().st_size > 0


@pytest.mark.parametrize(
    "old, name",
    [
        ("lit_rnn.profiling", "NoProfiler"),
        ("lit_rnn.trial_reporting", "ReportToStudy"),
        ("lit_rnn.callbacks", "HyperparametersWithMetrics"),
        ("lit_rnn.checkpointing", "RunCheckpoint"),
    ],
)
def test_a_class_an_old_config_names_by_its_module_before_the_rooms_is_read_at_its_path_now(old, name):
    config = {"trainer": {"callbacks": [{"class_path": f"{old}.{name}"}], "profiler": {"class_path": f"{old}.{name}"}}}
    upgraded = upgrade_config(config)
    current = upgraded["trainer"]["profiler"]["class_path"]
    assert current == upgraded["trainer"]["callbacks"][0]["class_path"] != f"{old}.{name}"
    module, _, attribute = current.rpartition(".")
    assert isinstance(getattr(importlib.import_module(module), attribute), type)
    assert old not in sys.modules  # nothing imports an old path: no hook keeps it importable


def test_an_old_standardized_run_predicts_as_it_did(old_run, tiny_mnist):
    """The run from before the standardization moved out of the network computes what it computed then."""
    checkpoint = old_run / "checkpoints" / "last.ckpt"
    saved = torch.load(checkpoint, weights_only=True)
    trained = load_network(checkpoint)
    assert trained.settings["normalize_input"] is saved["hyper_parameters"]["normalize_input"]
    if not trained.settings["normalize_input"]:
        return
    images = torch.rand(4, 28, 28)
    standardized = (images - 0.1307) / 0.3081  # MNIST's published mean and std, as the old network applied them
    with torch.no_grad():
        torch.testing.assert_close(trained.network(images), trained.model.network(standardized))


@pytest.mark.slow  # a server
def test_an_old_run_serves(old_run):
    with serving(old_run.parent.parent) as server:
        answer = httpx.post(f"{server.url}/predict", json={"pixels": [[0.0] * 28] * 28}).json()
        assert 0 <= answer["digit"] <= 9 and len(answer["probabilities"]) == 10
