"""What the benchmarks share: child processes measured from outside (their peak memory, their one result line), and
the plain training loop on lit_rnn's network and batches that fit is compared with.

A benchmark runs each measurement in a fresh process, so that its peak memory is its own; the child prints its
figures as one JSON line after ``RESULT_PREFIX``, which the parent picks out of the output.
"""

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # this checkout's lit_rnn, wherever the benchmark is run from

from lit_rnn.data.batches import TensorBatches
from lit_rnn.data.datamodule import MNISTDataModule
from lit_rnn.model.networks.recurrent import RecurrentNetwork

DEFAULT_DATA_DIR = REPO.parent / "shared" / "data"
RESULT_PREFIX = "BENCHMARK "  # the line a child prints its measurements on, as JSON
PROCESS_START = (
    "LIT_RNN_BENCHMARK_START"  # the parent's clock as it starts a child, so that the child can time its start-up
)

NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"  # Lightning sets it to 1 when imported; a plain loop never imports it


@contextmanager
def as_without_lightning() -> Iterator[None]:
    """Run a plain loop as a script that never imported Lightning would: without Lightning's NVML-based CUDA check,
    which costs each optimizer step about 0.12 ms on a machine with no NVIDIA driver (fit pays it; the tutorial does
    not)."""
    saved = os.environ.pop(NVML_CHECK, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[NVML_CHECK] = saved


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so that a clock read next counts it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cuda_peak_mib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def positive_int(text: str) -> int:
    """An argparse type: a whole number of 1 or more (of repeats, threads, steps)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return value


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    """A benchmark's ``--data-dir``, the folder its runs read MNIST from."""
    parser.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="folder holding MNIST/raw (default: %(default)s)"
    )


def check_data_dir(data_dir: Path) -> None:
    """Stop with one line when ``data_dir`` holds no MNIST files, before any child is started."""
    if not (data_dir / "MNIST" / "raw").is_dir():
        sys.exit(f"error: no MNIST/raw folder in {data_dir}: pass --data-dir with the folder that holds it")


def run_child(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[str, float, float, float]:
    """Run a command; return its output, its peak resident memory in MiB (``wait4``'s rusage: the largest of the
    process and the children it waited for), and the clock's time as it started and as it exited."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.time()
        process = subprocess.Popen(
            command, cwd=cwd, env={**env, PROCESS_START: repr(started)}, stdout=out, stderr=err, text=True
        )
        _, status, usage = os.wait4(process.pid, 0)
        exited = time.time()
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        sys.exit(f"error: {' '.join(command)} failed with exit code {process.returncode}:\n{stderr[-3000:]}")
    return stdout, usage.ru_maxrss / 1024, started, exited


def result_line(stdout: str) -> dict[str, Any]:
    """The measurements a child printed after ``RESULT_PREFIX``."""
    # fit's progress bar writes to stdout too, without a newline at the end
    return json.loads(next(line for line in stdout.splitlines() if RESULT_PREFIX in line).partition(RESULT_PREFIX)[2])


def print_result(result: dict[str, Any]) -> None:
    """A child's measurements, for ``result_line`` in its parent."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def fit_path() -> str:
    """The PYTHONPATH of a fit child: the repository first (this checkout's lit_rnn), then this folder (for the
    benchmark's callbacks, named on fit's command line)."""
    return os.pathsep.join([str(REPO), str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])


def optimizer_of_default_config(parameters: Any) -> torch.optim.Optimizer:
    """The optimizer that ``configs/default.yaml`` gives fit, so that a plain loop does the same work."""
    spec = yaml.safe_load((REPO / "configs" / "default.yaml").read_text())["model"]["optimizer"]
    module, name = spec["class_path"].rsplit(".", 1)
    return getattr(importlib.import_module(module), name)(parameters, **spec.get("init_args", {}))


@dataclass
class PlainTraining:
    """What a plain loop trains with: lit_rnn's network, the default config's optimizer, and the data's splits with
    this process's shuffled training batches."""

    network: torch.nn.Module
    optimizer: torch.optim.Optimizer
    data: MNISTDataModule
    batches: TensorBatches

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        """One training step, as the tutorial writes it."""
        loss = torch.nn.functional.cross_entropy(self.network(images), labels)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()


def plain_training(
    data_dir: str, device: torch.device, hidden_size: int = 64, batch_size: int = 64, rank: int = 0, world_size: int = 1
) -> PlainTraining:
    """A plain loop's start, as fit's with the same settings: the same seed, so the same initial weights and batches.

    Args:
        data_dir: Folder holding ``MNIST/raw``.
        device: Where the network and the data live.
        hidden_size: The network's units (``--model.hidden_size``).
        batch_size: Training images per step and process (``--data.batch_size``).
        rank: This process's share of each step's images, as under DDP.
        world_size: The processes that share each step.
    """
    L.seed_everything(1, verbose=False)  # as fit's seed_everything
    network = RecurrentNetwork(hidden_size=hidden_size).to(device)
    optimizer = optimizer_of_default_config(network.parameters())
    data = MNISTDataModule(data_dir=data_dir, batch_size=batch_size)
    data.setup("fit")
    data.splits = {name: (images.to(device), labels.to(device)) for name, (images, labels) in data.splits.items()}
    batches = TensorBatches(
        *data.splits["train"], batch_size, shuffle=True, seed=torch.initial_seed(), rank=rank, world_size=world_size
    )
    return PlainTraining(network, optimizer, data, batches)
