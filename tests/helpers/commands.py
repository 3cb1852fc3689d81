"""The commands as a user runs them: their arguments for a quick fit on the tiny data, their processes, and what they
print and leave behind."""

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"


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


def run_module(
    module: str, args: list[str], cwd: Path, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``python -m module args`` in ``cwd`` as a user would, capturing its output; ``env`` adds variables.

    The repository and ``tests/`` are on its path, so that a command line may name the test callbacks
    (``helpers.probes.NAME``).
    """
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS)]), **(env or {})},
    )


def reported_accuracy(stdout: str) -> float:
    """The test accuracy that ``lit_rnn.fit`` printed."""
    return float(
        re.search(r"Test accuracy on (?:[0-9,]+ of )?the [0-9,]+ MNIST test images: ([0-9.]+)", stdout).group(1)
    )


def checkpoint_accuracy(checkpoint: Path, data_dir: Path) -> float:
    """Accuracy of a checkpoint on the whole test set, in this one process."""
    import torch

    from lit_rnn.data.datamodule import load_images
    from lit_rnn.model.classifier import MNISTClassifier

    model = MNISTClassifier.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    images, labels = load_images(data_dir, train=False)
    with torch.no_grad():
        return (model(images.float() / 255).argmax(1) == labels).float().mean().item()


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
