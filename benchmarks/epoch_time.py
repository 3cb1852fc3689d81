"""One training epoch three ways, one after another: the tutorial's loop, a plain loop on lit_rnn's network
and data, and ``python -m lit_rnn.fit``; prints their times, throughput, memory, accuracy and ratios.

Usage: python benchmarks/epoch_time.py [--data-dir ../shared/data] [--repeats 3] [--accelerator auto]

Each run is a fresh process, so that its peak memory is its own. The timed span is the training steps of
one epoch: the tutorial's own ``train_seconds``; the plain loop's batches; for fit, from the start of the
epoch to the end of its last training step (its validation, sanity check and checkpoints are reported
apart as "fit() total"). The tutorial always runs on the CPU, as written; ``--accelerator gpu`` moves the
other two to the first GPU. Ratios are taken within each repeat, then their median is printed.
"""

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # this checkout's lit_rnn, wherever the script is run from

from lit_rnn.batches import TensorBatches  # noqa: E402
from lit_rnn.data import MNIST_TRAIN_SIZE, MNISTDataModule  # noqa: E402
from lit_rnn.network import RecurrentClassifier  # noqa: E402

DEFAULT_DATA_DIR = REPO.parent / "shared" / "data"
DEFAULT_TUTORIAL = REPO.parent / "shared" / "bench" / "seed_baseline.py"
RUNS = ("tutorial", "plain", "fit")
RESULT_PREFIX = "BENCHMARK "  # the line a child prints its measurements on, as JSON


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _cuda_peak_mib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


class EpochClock(L.Callback):
    """Times fit's first epoch of training steps and prints the result; passed to fit with ``--trainer.callbacks+=``."""

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == 0:
            _sync(pl_module.device)
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        if trainer.current_epoch == 0 and batch_idx + 1 == trainer.num_training_batches:
            _sync(pl_module.device)
            self.seconds = time.perf_counter() - self.start
            self.images = len(trainer.datamodule.splits["train"][1])

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        result = {"train_seconds": self.seconds, "images": self.images, "cuda_peak_mib": _cuda_peak_mib(pl_module.device)}
        print(RESULT_PREFIX + json.dumps(result), flush=True)


def _optimizer_of_default_config(parameters: Any) -> torch.optim.Optimizer:
    """The optimizer that ``configs/default.yaml`` gives fit, so that the plain loop does the same work."""
    spec = yaml.safe_load((REPO / "configs" / "default.yaml").read_text())["model"]["optimizer"]
    module, name = spec["class_path"].rsplit(".", 1)
    return getattr(importlib.import_module(module), name)(parameters, **spec.get("init_args", {}))


def plain_loop(data_dir: str, device: torch.device) -> dict[str, Any]:
    """The tutorial's loop, written without Lightning, on lit_rnn's network and in-memory batches."""
    L.seed_everything(1, verbose=False)  # as fit's seed_everything: the same initial weights and batch order
    network = RecurrentClassifier().to(device)
    optimizer = _optimizer_of_default_config(network.parameters())
    loss_function = torch.nn.CrossEntropyLoss()
    data = MNISTDataModule(data_dir=data_dir)
    data.setup("fit")
    (train_images, train_labels), (test_images, test_labels) = (
        (images.to(device), labels.to(device)) for images, labels in (data.splits["train"], data.splits["test"])
    )
    batches = TensorBatches(train_images, train_labels, data.batch_size, shuffle=True, seed=torch.initial_seed())

    _sync(device)
    start = time.perf_counter()
    for images, labels in batches:
        loss = loss_function(network(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    _sync(device)
    seconds = time.perf_counter() - start

    correct = 0
    with torch.no_grad():
        for images, labels in TensorBatches(test_images, test_labels, data.eval_batch_size):
            correct += (network(images).argmax(dim=1) == labels).sum().item()
    return {"train_seconds": seconds, "images": len(train_labels), "test_acc": correct / len(test_labels),
            "cuda_peak_mib": _cuda_peak_mib(device)}


def _child_env(args: argparse.Namespace, **extra: str) -> dict[str, str]:
    """This process's environment, with ``--threads`` as every run's CPU threads."""
    return {**os.environ, **({"OMP_NUM_THREADS": str(args.threads)} if args.threads else {}), **extra}


def _run_child(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[str, float]:
    """Run a command; return its output and its own peak resident memory in MiB (``wait4``'s rusage)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        sys.exit(f"error: {' '.join(command)} failed with exit code {process.returncode}:\n{stderr[-3000:]}")
    return stdout, usage.ru_maxrss / 1024


def _result_line(stdout: str) -> dict[str, Any]:
    # fit's progress bar writes to stdout too, without a newline at the end
    return json.loads(next(line for line in stdout.splitlines() if RESULT_PREFIX in line).partition(RESULT_PREFIX)[2])


def run_tutorial(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    stdout, rss = _run_child([sys.executable, str(args.tutorial), str(args.data_dir), "--eval-every", "0"], workdir, _child_env(args))
    result = json.loads(stdout.strip().splitlines()[-1])
    return {"train_seconds": result["train_seconds"], "images": MNIST_TRAIN_SIZE, "test_acc": result["test_acc_10k"],
            "rss_mib": rss, "cuda_peak_mib": None}


def run_plain(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", "plain", "--data-dir", str(args.data_dir), "--accelerator", args.accelerator]
    stdout, rss = _run_child(command, workdir, _child_env(args))
    return {**_result_line(stdout), "rss_mib": rss}


def run_fit(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    command = [
        sys.executable, "-m", "lit_rnn.fit", f"--data.data_dir={args.data_dir}", f"--trainer.accelerator={args.accelerator}",
        "--trainer.devices=1", f"--trainer.callbacks+={Path(__file__).stem}.{EpochClock.__name__}",
    ]
    # The repository first (this checkout's lit_rnn), then this folder (for EpochClock).
    path = os.pathsep.join([str(REPO), str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])
    stdout, rss = _run_child(command, workdir, _child_env(args, PYTHONPATH=path))
    accuracy = next(line for line in stdout.splitlines() if line.startswith("Test accuracy"))
    total = next(line for line in stdout.splitlines() if line.startswith("Training took"))
    return {**_result_line(stdout), "test_acc": float(accuracy.split(": ")[1].split()[0]),
            "fit_seconds": float(total.split()[2]), "rss_mib": rss}


def _device(accelerator: str) -> torch.device:
    if accelerator == "gpu" or (accelerator == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", 0)
    return torch.device("cpu")


def _row(name: str, result: dict[str, Any]) -> str:
    cuda = f"{result['cuda_peak_mib']:9.0f}" if result["cuda_peak_mib"] is not None else f"{'-':>9}"
    total = f"{result['fit_seconds']:10.1f}" if "fit_seconds" in result else f"{'':>10}"
    return (f"{name:<10}{result['train_seconds']:9.2f}{result['images']:9,}{result['images'] / result['train_seconds']:10,.0f}"
            f"{result['rss_mib']:9.0f}{cuda}{result['test_acc']:9.4f}{total}")


HEADER = f"{'run':<10}{'train s':>9}{'images':>9}{'images/s':>10}{'RSS MiB':>9}{'CUDA MiB':>9}{'test acc':>9}{'fit() s':>10}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="folder holding MNIST/raw (default: %(default)s)")
    parser.add_argument("--tutorial", type=Path, default=DEFAULT_TUTORIAL, help="the tutorial's script (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each; the median is reported (default: %(default)s)")
    parser.add_argument("--accelerator", choices=("cpu", "gpu", "auto"), default="auto",
                        help="where the plain loop and fit train (default: %(default)s, a GPU when there is one)")
    parser.add_argument("--threads", type=int, help="CPU threads of every run (default: PyTorch's, one per core)")
    parser.add_argument("--child", choices=("plain",), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.data_dir, args.tutorial = args.data_dir.resolve(), args.tutorial.resolve()
    if args.accelerator == "gpu" and not torch.cuda.is_available():
        sys.exit("error: --accelerator gpu, but PyTorch sees no GPU here: use --accelerator cpu or auto")
    device = _device(args.accelerator)
    args.accelerator = "gpu" if device.type == "cuda" else "cpu"
    if args.child == "plain":
        print(RESULT_PREFIX + json.dumps(plain_loop(str(args.data_dir), device)))
        return
    if not (args.data_dir / "MNIST" / "raw").is_dir():
        sys.exit(f"error: no MNIST/raw folder in {args.data_dir}: pass --data-dir with the folder that holds it")
    if not args.tutorial.is_file():
        sys.exit(f"error: the tutorial's script is not at {args.tutorial}: pass --tutorial with its path")

    print(f"torch {torch.__version__}, {args.threads or torch.get_num_threads()} CPU threads, plain loop and fit on "
          f"{torch.cuda.get_device_name(device) if device.type == 'cuda' else 'the CPU'}; tutorial on the CPU")
    print(HEADER)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in RUNS}
    runners = {"tutorial": run_tutorial, "plain": run_plain, "fit": run_fit}
    with tempfile.TemporaryDirectory(prefix="epoch_time_") as workdir:
        for _ in range(args.repeats):
            for name in RUNS:
                results[name].append(runners[name](args, Path(workdir)))
                print(_row(name, results[name][-1]), flush=True)

    print(f"\nmedian of {args.repeats}:")
    print(HEADER)
    for name in RUNS:
        median = {key: statistics.median(r[key] for r in results[name]) if results[name][0][key] is not None else None
                  for key in results[name][0]}
        print(_row(name, median))
    ratios = {
        "fit epoch / tutorial (time)": [f["train_seconds"] / t["train_seconds"] for f, t in zip(results["fit"], results["tutorial"])],
        "fit epoch / tutorial (time per image)": [
            (f["train_seconds"] / f["images"]) / (t["train_seconds"] / t["images"]) for f, t in zip(results["fit"], results["tutorial"])],
        "fit epoch / plain loop (time)": [f["train_seconds"] / p["train_seconds"] for f, p in zip(results["fit"], results["plain"])],
        "fit() total / tutorial (time)": [f["fit_seconds"] / t["train_seconds"] for f, t in zip(results["fit"], results["tutorial"])],
    }
    print("\nratios, median over the repeats (each repeat's runs compared with each other):")
    for name, values in ratios.items():
        print(f"  {name:<40}{statistics.median(values):6.3f}   ({', '.join(f'{v:.3f}' for v in values)})")


if __name__ == "__main__":
    main()
