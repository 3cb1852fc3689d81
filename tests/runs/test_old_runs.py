"""A run made before the package was laid out in rooms (``tests/fixtures/run_from_ca286ea``, made by commit ca286ea:
its ``config.yaml`` names ``lit_rnn.profiling.NoProfiler``) still resumes, tests, predicts and exports."""

import importlib
import shutil
import sys
from pathlib import Path

import pytest
import torch
from helpers.commands import TESTS

from lit_rnn import export, fit, predict, test

OLD_RUN = TESTS / "fixtures" / "run_from_ca286ea"


@pytest.fixture
def old_run(tmp_path, monkeypatch) -> Path:
    shutil.copytree(OLD_RUN, tmp_path / "lightning_logs")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lit_rnn"])  # pytest's own arguments are not the commands'
    return tmp_path / "lightning_logs" / "version_0"


def test_an_old_run_resumes_where_it_stopped(old_run, tiny_mnist):
    assert "class_path: lit_rnn.profiling.NoProfiler" in (old_run / "config.yaml").read_text()
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
    last = torch.load(old_run / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["global_step"] == 6  # three steps an epoch: the second epoch added its three
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
        ("lit_rnn.model", "MNISTClassifier"),
        ("lit_rnn.data", "MNISTDataModule"),
        ("lit_rnn.callbacks", "HyperparametersWithMetrics"),
    ],
)
def test_the_classes_a_config_of_an_old_run_may_name_are_found_by_their_old_paths(old, name):
    assert isinstance(getattr(importlib.import_module(old), name), type)
