"""How the cost of a training step grows with the network, the batch and the processes: ``python -m lit_rnn.fit``
against a plain loop on lit_rnn's network and data, at each point of a grid, plotted against the work per step.

Usage: python benchmarks/scaling.py [--data-dir ../shared/data] [--out docs] [--quick]

Each point is a fresh process of each (its peak memory is its own: ``ru_maxrss``, of the largest process when there
are two). Each trains ``--warmup`` steps untimed, then ``--steps`` timed ones (fewer where an epoch has fewer full
batches, so that the timed steps stay in one epoch); an epoch's time is the step's time times the steps of an epoch,
not a whole epoch measured. Lightning's share of a step is (fit's step - the plain loop's) / fit's. fit runs as a user
runs it (its callbacks, its logging every 50 steps, its progress bar), without validation, testing one batch. Each
point runs ``--repeats`` times, the points in turn, plain then fit; the medians are reported.

The grid is a cross rather than every combination, so that the default run takes about 10 minutes on two idle cores:
the hidden sizes 32-512 at the default batch of 64 (the work per step grows with the square of the hidden size, while
the kernels launched and Lightning's own work per step stay the same), the batch sizes 16-1024 at the default hidden
size of 64 (the work grows with the batch, each kernel on a wider matrix), and two processes (DDP over gloo on the CPU,
as ``configs/ddp.yaml``: the batch split between them, the threads too) at two points of the default hidden size: the
default batch, where a step is mostly Lightning's and the processes' exchange of gradients, and the largest, where it
is mostly the network's, with the same gradients to exchange. A batch is the images of one optimizer step over all the
processes, so that both sides of a comparison do the same work. ``--quick`` runs a smaller grid and fewer steps: a
check that the benchmark works, not a measurement.
"""

import argparse
import math
import os
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from harness import (
    REPO,
    add_data_dir,
    as_without_lightning,
    check_data_dir,
    fit_path,
    plain_training,
    positive_int,
    print_result,
    result_line,
    run_child,
)

from lit_rnn.data.datamodule import MNISTDataModule
from lit_rnn.model.networks.recurrent import weight_count

ROWS, CLASSES = 28, 10  # an image's time steps; the head's outputs
DEFAULT_HIDDEN, DEFAULT_BATCH = 64, 64  # configs/default.yaml's
COLORS = ("C0", "C1", "C2")  # the figure's series: the hidden sizes, the batch sizes, two processes


@dataclass(frozen=True)
class Point:
    """One setting measured: processes, the network's hidden size, and the images of one step over all processes."""

    processes: int
    hidden_size: int
    batch_size: int

    @property
    def label(self) -> str:
        return f"h{self.hidden_size} b{self.batch_size}" + (f" x{self.processes}" if self.processes > 1 else "")


def grid(quick: bool) -> list[Point]:
    """The points measured, in order: the hidden sizes, the batch sizes, then two processes (see the docstring)."""
    hidden_sizes, batch_sizes, two_processes = (
        ((32, 64), (16, 64), (64,)) if quick else ((32, 64, 128, 256, 512), (16, 64, 256, 1024), (64, 1024))
    )
    return (
        [Point(1, hidden, DEFAULT_BATCH) for hidden in hidden_sizes]
        + [Point(1, DEFAULT_HIDDEN, batch) for batch in batch_sizes if batch != DEFAULT_BATCH]
        + [Point(2, DEFAULT_HIDDEN, batch) for batch in two_processes]
    )


def multiply_adds_per_step(hidden_size: int, batch_size: int) -> int:
    """The network's multiply-adds in one training step: each image's forward pass (the LSTM's weights once a row, the
    head's once) three times over, since the backward pass takes about twice the forward's."""
    head = hidden_size * CLASSES + CLASSES
    recurrent = weight_count("lstm", hidden_size, 1, False) - head
    return 3 * batch_size * (ROWS * recurrent + head)


def threads_per_process(point: Point) -> int:
    return max(1, torch.get_num_threads() // point.processes)


def timed_steps(point: Point, train_images: int, warmup: int, steps: int) -> int:
    """``steps``, or fewer where an epoch has fewer full batches: the timed steps stay in one epoch, all full."""
    full_batches = train_images // point.batch_size
    if full_batches <= warmup:
        sys.exit(
            f"error: an epoch of {train_images:,} training images has {full_batches} full batches of "
            f"{point.batch_size}, not more than the {warmup} warm-up steps: pass a smaller --warmup"
        )
    return min(steps, full_batches - warmup)


class StepClock(L.Callback):
    """Times fit's training steps after ``warmup``, to the end of its last (``--trainer.max_steps``), and prints them.

    Passed to fit with ``--trainer.callbacks+=scaling.StepClock --trainer.callbacks.warmup=W``. From the end of one
    step to the end of another, so that the span holds everything fit does between steps.
    """

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step == self.warmup:
            self.start = time.perf_counter()
        elif trainer.global_step == trainer.max_steps:
            self.seconds = time.perf_counter() - self.start

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            print_result({"seconds": self.seconds, "steps": trainer.max_steps - self.warmup})


def plain_child(args: argparse.Namespace) -> None:
    """The plain loop at one point, in this process; under ``torch.distributed.run``, one of its processes."""
    with as_without_lightning():  # this process imported Lightning for its helpers; a plain loop would not
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        device = torch.device("cpu")
        training = plain_training(
            str(args.data_dir), device, args.hidden_size, args.batch_size // world_size, rank, world_size
        )
        if world_size > 1:
            torch.distributed.init_process_group("gloo")
            training.network = torch.nn.parallel.DistributedDataParallel(training.network)
        for step, (images, labels) in enumerate(training.batches, start=1):
            training.step(images, labels)
            if step == args.warmup:
                start = time.perf_counter()
            elif step == args.warmup + args.steps:
                break
    seconds = time.perf_counter() - start
    if rank == 0:
        print_result({"seconds": seconds, "steps": args.steps})
    if world_size > 1:
        torch.distributed.destroy_process_group()


def plain_command(point: Point, steps: int, args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The plain loop's command line at ``point`` (under ``torch.distributed.run`` for two processes), and its
    environment's additions."""
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={point.processes}"]
    command = [
        *(launcher if point.processes > 1 else []),
        str(Path(__file__)),
        "--child",
        f"--data-dir={args.data_dir}",
        f"--hidden-size={point.hidden_size}",
        f"--batch-size={point.batch_size}",
        f"--warmup={args.warmup}",
        f"--steps={steps}",
    ]
    return command, {}


def fit_command(point: Point, steps: int, args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """fit's command line at ``point``, timed by ``StepClock``, and its environment's additions."""
    command = [
        "-m",
        "lit_rnn.fit",
        f"--data.data_dir={args.data_dir}",
        f"--model.network.hidden_size={point.hidden_size}",
        f"--data.batch_size={point.batch_size // point.processes}",
        "--trainer.accelerator=cpu",
        f"--trainer.devices={point.processes}",
        *(["--trainer.strategy=ddp"] if point.processes > 1 else []),
        "--trainer.max_epochs=-1",
        f"--trainer.max_steps={args.warmup + steps}",
        "--trainer.limit_val_batches=0",
        "--trainer.limit_test_batches=1",
        f"--trainer.callbacks+={Path(__file__).stem}.{StepClock.__name__}",
        f"--trainer.callbacks.warmup={args.warmup}",
    ]
    return command, {"PYTHONPATH": fit_path()}


COMMANDS = {"plain": plain_command, "fit": fit_command}


def measure(point: Point, run: str, steps: int, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    """One fresh process (two, with DDP) of ``run`` (plain or fit) at ``point``: its seconds per step and peak MiB."""
    command, env = COMMANDS[run](point, steps, args)
    # This process's threads shared between the processes, as Lightning does by itself and torch.distributed.run
    # would not (it gives each one thread).
    threads = {"OMP_NUM_THREADS": str(threads_per_process(point))} if point.processes > 1 else {}
    stdout, rss, _, _ = run_child([sys.executable, *command], workdir, {**os.environ, **env, **threads})
    result = result_line(stdout)
    return {"step_s": result["seconds"] / result["steps"], "rss_mib": rss}


def summarize(point: Point, repeats: list[dict[str, dict[str, float]]], train_images: int, steps: int) -> dict:
    """A point's row: the medians over the repeats, and Lightning's share as the median of each repeat's own."""
    plain, fit = (
        {key: statistics.median(r[run][key] for r in repeats) for key in repeats[0][run]} for run in ("plain", "fit")
    )
    epoch_steps = math.ceil(train_images / point.batch_size)
    return {
        "point": point,
        "multiply_adds": multiply_adds_per_step(point.hidden_size, point.batch_size),
        "steps": steps,
        **{
            f"{run}_{key}": value for run, figures in (("plain", plain), ("fit", fit)) for key, value in figures.items()
        },
        "plain_epoch_s": plain["step_s"] * epoch_steps,
        "fit_epoch_s": fit["step_s"] * epoch_steps,
        "plain_images_per_s": point.batch_size / plain["step_s"],
        "fit_images_per_s": point.batch_size / fit["step_s"],
        "lightning_share": statistics.median(1 - r["plain"]["step_s"] / r["fit"]["step_s"] for r in repeats),
    }


TABLE_HEADER = (
    "| processes | hidden | batch | million multiply-adds per step | timed steps | plain ms/step | fit ms/step "
    "| fit epoch s | plain images/s | fit images/s | plain peak MiB | fit peak MiB | Lightning's share |"
)


def table(rows: list[dict]) -> str:
    """The rows as a Markdown table, one line per point."""
    lines = [TABLE_HEADER, "|" + " --- |" * TABLE_HEADER.count(" |")]
    for row in rows:
        point = row["point"]
        lines.append(
            f"| {point.processes} | {point.hidden_size} | {point.batch_size} | {row['multiply_adds'] / 1e6:,.1f} "
            f"| {row['steps']} | {row['plain_step_s'] * 1e3:.2f} | {row['fit_step_s'] * 1e3:.2f} "
            f"| {row['fit_epoch_s']:.2f} | {row['plain_images_per_s']:,.0f} | {row['fit_images_per_s']:,.0f} "
            f"| {row['plain_rss_mib']:.0f} | {row['fit_rss_mib']:.0f} | {row['lightning_share']:.1%} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], title: str, path: Path) -> None:
    """Four panels against the work per step: epoch time, images/s, peak memory (plain and fit), Lightning's share."""
    import matplotlib  # here, not on top: fit's processes import this module for StepClock, and pay for no plotting

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def along(keep: Callable[[Point], bool]) -> list[dict]:
        return sorted((r for r in rows if keep(r["point"])), key=lambda r: r["multiply_adds"])

    series = {
        f"hidden sizes, batch {DEFAULT_BATCH}": along(lambda p: p.processes == 1 and p.batch_size == DEFAULT_BATCH),
        f"batch sizes, hidden {DEFAULT_HIDDEN}": along(lambda p: p.processes == 1 and p.hidden_size == DEFAULT_HIDDEN),
        "2 processes (DDP, gloo)": along(lambda p: p.processes == 2),
    }
    panels = (
        ("epoch_s", "time per epoch (s, from the timed steps)", True),
        ("images_per_s", "images per second", True),
        ("rss_mib", "peak resident memory (MiB)", False),
    )
    figure, axes = plt.subplots(2, 2, figsize=(12, 9), sharex=True)
    for ax, (key, ylabel, log) in zip(axes.flat, panels):
        for (name, points), color in zip(series.items(), COLORS):
            x = [r["multiply_adds"] for r in points]
            ax.plot(x, [r[f"fit_{key}"] for r in points], "o-", color=color, label=f"fit: {name}")
            ax.plot(x, [r[f"plain_{key}"] for r in points], "s--", color=color, alpha=0.6, label=f"plain: {name}")
        ax.set_ylabel(ylabel)
        ax.set_yscale("log" if log else "linear")
    share = axes.flat[3]
    for points, color in zip(series.values(), COLORS):
        share.plot(
            [r["multiply_adds"] for r in points], [100 * r["lightning_share"] for r in points], "o-", color=color
        )
        for r in points:
            share.annotate(r["point"].label, (r["multiply_adds"], 100 * r["lightning_share"]), fontsize=7)
    share.axhline(0, color="grey", linewidth=0.8)
    share.set_ylabel("Lightning's share of fit's step (%)")
    for ax in axes.flat:
        ax.set_xscale("log")
        ax.grid(True, which="both", alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("the network's multiply-adds per training step")
    axes.flat[0].legend(fontsize=7)
    figure.suptitle(textwrap.fill(title, 150), fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_dir(parser)
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "docs",
        help="folder for scaling.png and scaling.md (default: %(default)s)",
    )
    parser.add_argument("--quick", action="store_true", help="a small grid and few steps: a check that it works")
    parser.add_argument("--warmup", type=positive_int, help="untimed steps first (default: 20, quick: 3)")
    parser.add_argument("--steps", type=positive_int, help="timed steps of each point (default: 300, quick: 10)")
    parser.add_argument("--repeats", type=positive_int, help="runs of each point; medians (default: 3, quick: 1)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--hidden-size", type=positive_int, help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=positive_int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    defaults = (3, 10, 1) if args.quick else (20, 300, 3)
    args.warmup, args.steps, args.repeats = (
        given or default for given, default in zip((args.warmup, args.steps, args.repeats), defaults)
    )
    args.data_dir = args.data_dir.resolve()
    if args.child:
        plain_child(args)
        return
    check_data_dir(args.data_dir)

    data = MNISTDataModule(data_dir=str(args.data_dir))
    data.setup("fit")
    train_images = len(data.splits["train"][1])
    points = grid(args.quick)
    steps = {point: timed_steps(point, train_images, args.warmup, args.steps) for point in points}
    method = (
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads "
        f"({threads_per_process(Point(2, DEFAULT_HIDDEN, DEFAULT_BATCH))} a process under DDP); each point a "
        f"fresh process; time per epoch ({train_images:,} images) extrapolated from up to {args.steps} timed steps "
        f"after {args.warmup} warm-up steps; median of {args.repeats}"
        + (" (--quick: a check, not a measurement)" if args.quick else "")
    )
    print(method, flush=True)
    began = time.perf_counter()
    measured: dict[Point, list[dict[str, dict[str, float]]]] = {point: [] for point in points}
    with tempfile.TemporaryDirectory(prefix="scaling_") as workdir:
        for repeat in range(args.repeats):
            for point in points:
                figures = {run: measure(point, run, steps[point], args, Path(workdir)) for run in COMMANDS}
                measured[point].append(figures)
                print(
                    f"  repeat {repeat + 1}, {point.label}: plain {figures['plain']['step_s'] * 1e3:.2f} ms/step, "
                    f"fit {figures['fit']['step_s'] * 1e3:.2f} ms/step",
                    flush=True,
                )
    rows = [summarize(point, measured[point], train_images, steps[point]) for point in points]
    markdown = f"{method}.\n\n{table(rows)}\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scaling.md").write_text(markdown)
    plot(rows, method, args.out / "scaling.png")
    print(
        f"\n{markdown}\nWritten: {args.out / 'scaling.md'}, {args.out / 'scaling.png'} ({time.perf_counter() - began:.0f} s)"
    )


if __name__ == "__main__":
    main()
