"""Shared fixtures: tiny MNIST-format IDX files that the tests write, so torchvision's real loader reads them."""

import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
REAL_DATA = Path(os.environ.get("LIT_RNN_REAL_DATA", REPO.parent / "shared" / "data"))
IDX_NAMES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array in MNIST's IDX format (magic 0x0008 0xdims, then big-endian sizes)."""
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def learnable_digits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy 28x28 images whose label is written as a bright band at rows 2*label..2*label+2: easy to learn."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 10
    rng.shuffle(labels)
    images = rng.integers(0, 60, size=(count, 28, 28))
    for image, label in zip(images, labels):
        image[2 * label : 2 * label + 3, 4:24] = 255
    return images.astype(np.uint8), labels.astype(np.uint8)


def make_mnist(root: Path, train_count: int = 600, test_count: int = 200) -> Path:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for train, count in ((True, train_count), (False, test_count)):
        images, labels = learnable_digits(count, seed=int(train))
        write_idx(raw / IDX_NAMES[train][0], images)
        write_idx(raw / IDX_NAMES[train][1], labels)
    return root


@pytest.fixture(scope="session")
def tiny_mnist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data_dir with 600 training and 200 test images in MNIST's IDX layout (read-only by convention)."""
    return make_mnist(tmp_path_factory.mktemp("tiny_mnist"))


@pytest.fixture(scope="session")
def real_mnist() -> Path:
    if not (REAL_DATA / "MNIST" / "raw").is_dir():
        pytest.skip(f"the real MNIST files are not in {REAL_DATA} (set LIT_RNN_REAL_DATA to their folder)")
    return REAL_DATA


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` and its bytes, to show that a command left them alone.

    A run folder's lock file is left out: it names the run's latest owner, and any command that takes the run
    (before it finds a setting wrong) becomes that.
    """
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file() and path.name != ".lock"
    }


def tiny_fit_args(data_dir: Path, *extra: str) -> list[str]:
    """Command-line arguments for a fit of a few seconds on the tiny data."""
    return [
        f"--data.data_dir={data_dir}",
        "--data.val_size=100",
        "--data.batch_size=50",
        "--data.eval_batch_size=100",
        "--trainer.max_epochs=2",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--trainer.log_every_n_steps=5",
        *extra,
    ]


def reported_accuracy(stdout: str) -> float:
    """The test accuracy that ``lit_rnn.fit`` printed."""
    return float(
        re.search(r"Test accuracy on (?:[0-9,]+ of )?the [0-9,]+ MNIST test images: ([0-9.]+)", stdout).group(1)
    )


def checkpoint_accuracy(checkpoint: Path, data_dir: Path) -> float:
    """Accuracy of a checkpoint on the whole test set, in this one process."""
    import torch

    from lit_rnn.data.datamodule import load_mnist
    from lit_rnn.model.classifier import MNISTClassifier

    model = MNISTClassifier.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    images, labels = load_mnist(data_dir, train=False)
    with torch.no_grad():
        return (model(images.float() / 255).argmax(1) == labels).float().mean().item()


def run_module(
    module: str, args: list[str], cwd: Path, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``python -m module args`` in ``cwd`` as a user would, capturing its output; ``env`` adds variables."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]), **(env or {})},
    )


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
        "lit_rnn.fit", [f"--data.data_dir={real_mnist}", "--trainer.enable_progress_bar=false"], cwd=workdir
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, result.stdout
