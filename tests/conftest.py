"""Shared fixtures: the tiny MNIST-format data the tests write, the real MNIST where it is, and runs made on them.

The plain functions the tests share are in ``helpers``; only fixtures live here."""

import os
from pathlib import Path

import pytest
from helpers.commands import REPO, run_module, tiny_fit_args
from helpers.mnist import make_mnist

REAL_DATA = Path(os.environ.get("LIT_RNN_REAL_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def tiny_mnist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data_dir with 600 training and 200 test images in MNIST's IDX layout (read-only by convention)."""
    return make_mnist(tmp_path_factory.mktemp("tiny_mnist"))


@pytest.fixture(scope="session")
def real_mnist() -> Path:
    if not (REAL_DATA / "MNIST" / "raw").is_dir():
        pytest.skip(f"the real MNIST files are not in {REAL_DATA} (set LIT_RNN_REAL_DATA to their folder)")
    return REAL_DATA


@pytest.fixture(scope="session")
def tiny_run(tiny_mnist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder in which one quick default fit on the tiny data ran: ``lightning_logs/version_0`` (read-only by convention)."""
    workdir = tmp_path_factory.mktemp("tiny_run")
    result = run_module("lit_rnn.fit", tiny_fit_args(tiny_mnist), cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


@pytest.fixture(scope="session")
def default_run(real_mnist: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One default fit on the real MNIST (the folder it ran in, its output), shared by the tests of its results."""
    workdir = tmp_path_factory.mktemp("default_run")
    result = run_module(
        "lit_rnn.fit",
        [f"--data.data_dir={real_mnist}", "--trainer.enable_progress_bar=false"],
        cwd=workdir,
        timeout=900,  # an epoch of the real data, on a machine that may be busy
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, result.stdout
