"""One training epoch three ways, one after another: the tutorial's loop, a plain loop on lit_rnn's network
and data, and ``python -m lit_rnn.fit``; prints their times, throughput, memory, accuracy and ratios, and the
whole fit command's time phase by phase against the whole tutorial script's.

Usage: python benchmarks/epoch_time.py [--data-dir ../shared/data] [--repeats 3] [--accelerator auto]

Each run is a fresh process, so that its peak memory is its own. The timed span is the training steps of
one epoch: the tutorial's own ``train_seconds``; the plain loop's batches; for fit, from the start of the
epoch to the end of its last training step. The processes of the tutorial and of fit are timed whole too, from
their start to their exit (fit's split into ``FIT_PHASES``). The tutorial always runs on the CPU, as written;
``--accelerator gpu`` moves the other two to the first GPU. Ratios are taken within each repeat, then their median is printed.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from harness import (
    PROCESS_START,
    REPO,
    add_data_dir,
    as_without_lightning,
    check_data_dir,
    cuda_peak_mib,
    fit_path,
    plain_training,
    positive_int,
    print_result,
    result_line,
    run_child,
    sync,
)

from lit_rnn.data.batches import TensorBatches
from lit_rnn.data.datamodule import MNIST_TRAIN_SIZE

DEFAULT_TUTORIAL = REPO.parent / "shared" / "bench" / "seed_baseline.py"
RUNS = ("tutorial", "plain", "fit")
FIT_PHASES = ("start-up", "set-up", "training", "validation", "test", "report")
"""fit's whole process in consecutive spans: start-up (the interpreter, imports and argument parsing), set-up (the
Trainer, the data, the sanity check), training (the epoch's training steps), validation (with the checkpoints saved
after it, until fit ends), test (loading the best checkpoint and testing it) and report (the printed results, until
the process has exited)."""


class PhaseClock(L.Callback):
    """Timestamps fit's phases and prints them; passed to fit with ``--trainer.callbacks+=``.

    It is built while the command line is parsed, after fit's imports: that moment ends the start-up.
    """

    def __init__(self) -> None:
        self.times = {"process": float(os.environ[PROCESS_START]), "built": time.time()}

    def _mark(self, name: str, pl_module: L.LightningModule) -> None:
        sync(pl_module.device)
        self.times[name] = time.time()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == 0:
            self._mark("training", pl_module)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if trainer.current_epoch == 0 and batch_idx + 1 == trainer.num_training_batches:
            self._mark("trained", pl_module)
            self.images = len(trainer.datamodule.splits["train"][1])

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._mark("fitted", pl_module)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._mark("tested", pl_module)
        print_result({"times": self.times, "images": self.images, "cuda_peak_mib": cuda_peak_mib(pl_module.device)})


def _phases(times: dict[str, float], exited: float) -> dict[str, float]:
    """The seconds of each of ``FIT_PHASES``, from the child's timestamps and the moment it exited."""
    marks = [times[name] for name in ("process", "built", "training", "trained", "fitted", "tested")] + [exited]
    return {phase: end - start for phase, start, end in zip(FIT_PHASES, marks, marks[1:])}


def plain_loop(data_dir: str, device: torch.device) -> dict[str, Any]:
    """The tutorial's loop, written without Lightning, on lit_rnn's network and in-memory batches."""
    with as_without_lightning():  # this process imported Lightning for its helpers; a plain loop would not
        training = plain_training(data_dir, device)
        sync(device)
        start = time.perf_counter()
        for images, labels in training.batches:
            training.step(images, labels)
        sync(device)
        seconds = time.perf_counter() - start

    correct = 0
    with torch.no_grad():
        for images, labels in TensorBatches(*training.data.splits["test"], training.data.eval_batch_size):
            correct += (training.network(images).argmax(dim=1) == labels).sum().item()
    return {
        "train_seconds": seconds,
        "images": len(training.data.splits["train"][1]),
        "test_acc": correct / len(training.data.splits["test"][1]),
        "cuda_peak_mib": cuda_peak_mib(device),
    }


def _child_env(args: argparse.Namespace, **extra: str) -> dict[str, str]:
    """This process's environment, with ``--threads`` as every run's CPU threads."""
    return {**os.environ, **({"OMP_NUM_THREADS": str(args.threads)} if args.threads else {}), **extra}


def run_tutorial(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    command = [sys.executable, str(args.tutorial), str(args.data_dir), "--eval-every", "0"]
    stdout, rss, started, exited = run_child(command, workdir, _child_env(args))
    result = json.loads(stdout.strip().splitlines()[-1])
    return {
        "train_seconds": result["train_seconds"],
        "images": MNIST_TRAIN_SIZE,
        "test_acc": result["test_acc_10k"],
        "rss_mib": rss,
        "cuda_peak_mib": None,
        "process_seconds": exited - started,
    }


def run_plain(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--child",
        "plain",
        "--data-dir",
        str(args.data_dir),
        "--accelerator",
        args.accelerator,
    ]
    stdout, rss, _, _ = run_child(command, workdir, _child_env(args))
    return {**result_line(stdout), "rss_mib": rss}


def run_fit(args: argparse.Namespace, workdir: Path, *extra: str) -> dict[str, Any]:
    """The default fit (with ``extra`` arguments), its phases timed."""
    command = [
        sys.executable,
        "-m",
        "lit_rnn.fit",
        f"--data.data_dir={args.data_dir}",
        f"--trainer.accelerator={args.accelerator}",
        "--trainer.devices=1",
        f"--trainer.callbacks+={Path(__file__).stem}.{PhaseClock.__name__}",
        *extra,
    ]
    stdout, rss, _, exited = run_child(command, workdir, _child_env(args, PYTHONPATH=fit_path()))
    accuracy = next(line for line in stdout.splitlines() if line.startswith("Test accuracy"))
    result = result_line(stdout)
    phases = _phases(result.pop("times"), exited)
    return {
        **result,
        **phases,
        "train_seconds": phases["training"],
        "test_acc": float(accuracy.split(": ")[1].split()[0]),
        "process_seconds": sum(phases.values()),
        "rss_mib": rss,
    }


def _device(accelerator: str) -> torch.device:
    if accelerator == "gpu" or (accelerator == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", 0)
    return torch.device("cpu")


def _row(name: str, result: dict[str, Any]) -> str:
    cuda = f"{result['cuda_peak_mib']:9.0f}" if result["cuda_peak_mib"] is not None else f"{'-':>9}"
    total = f"{result['process_seconds']:10.2f}" if "process_seconds" in result else f"{'-':>10}"
    return (
        f"{name:<10}{result['train_seconds']:9.2f}{result['images']:9,}{result['images'] / result['train_seconds']:10,.0f}"
        f"{result['rss_mib']:9.0f}{cuda}{result['test_acc']:9.4f}{total}"
    )


HEADER = f"{'run':<10}{'train s':>9}{'images':>9}{'images/s':>10}{'RSS MiB':>9}{'CUDA MiB':>9}{'test acc':>9}{'process s':>10}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_dir(parser)
    parser.add_argument(
        "--tutorial", type=Path, default=DEFAULT_TUTORIAL, help="the tutorial's script (default: %(default)s)"
    )
    parser.add_argument(
        "--repeats", type=positive_int, default=3, help="runs of each; the median is reported (default: %(default)s)"
    )
    parser.add_argument(
        "--accelerator",
        choices=("cpu", "gpu", "auto"),
        default="auto",
        help="where the plain loop and fit train (default: %(default)s, a GPU when there is one)",
    )
    parser.add_argument(
        "--threads", type=positive_int, help="CPU threads of every run (default: PyTorch's, one per core)"
    )
    parser.add_argument("--child", choices=("plain",), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.data_dir, args.tutorial = args.data_dir.resolve(), args.tutorial.resolve()
    if args.accelerator == "gpu" and not torch.cuda.is_available():
        sys.exit("error: --accelerator gpu, but PyTorch sees no GPU here: use --accelerator cpu or auto")
    device = _device(args.accelerator)
    args.accelerator = "gpu" if device.type == "cuda" else "cpu"
    if args.child == "plain":
        print_result(plain_loop(str(args.data_dir), device))
        return
    check_data_dir(args.data_dir)
    if not args.tutorial.is_file():
        sys.exit(f"error: the tutorial's script is not at {args.tutorial}: pass --tutorial with its path")

    print(
        f"torch {torch.__version__}, {args.threads or torch.get_num_threads()} CPU threads, plain loop and fit on "
        f"{torch.cuda.get_device_name(device) if device.type == 'cuda' else 'the CPU'}; tutorial on the CPU"
    )
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
        median = {
            key: statistics.median(r[key] for r in results[name]) if results[name][0][key] is not None else None
            for key in results[name][0]
        }
        print(_row(name, median))
    print(
        "\nfit's process, phase by phase (median seconds; the tutorial's process: "
        f"{statistics.median(t['process_seconds'] for t in results['tutorial']):.2f} s, of which training "
        f"{statistics.median(t['train_seconds'] for t in results['tutorial']):.2f} s):"
    )
    for phase in FIT_PHASES:
        print(f"  {phase:<12}{statistics.median(f[phase] for f in results['fit']):6.2f}")
    ratios = {
        "fit epoch / tutorial (time)": [
            f["train_seconds"] / t["train_seconds"] for f, t in zip(results["fit"], results["tutorial"])
        ],
        "fit epoch / tutorial (time per image)": [
            (f["train_seconds"] / f["images"]) / (t["train_seconds"] / t["images"])
            for f, t in zip(results["fit"], results["tutorial"])
        ],
        "fit epoch / plain loop (time)": [
            f["train_seconds"] / p["train_seconds"] for f, p in zip(results["fit"], results["plain"])
        ],
        "fit command / tutorial script (processes)": [
            f["process_seconds"] / t["process_seconds"] for f, t in zip(results["fit"], results["tutorial"])
        ],
    }
    print("\nratios, median over the repeats (each repeat's runs compared with each other):")
    for name, values in ratios.items():
        print(f"  {name:<40}{statistics.median(values):6.3f}   ({', '.join(f'{v:.3f}' for v in values)})")


if __name__ == "__main__":
    main()
