"""Lightning's own work per training step: fit against a plain loop, both on a network so small that its step is
nearly free, in CPU time on one thread, so that what is left is the loop around the step, measured steadily.

Usage: python benchmarks/step_overhead.py [--data-dir ../shared/data] [--steps 800] [--repeats 5]

Both train the same one-layer linear classifier (flattened image to 10 logits) with the default config's optimizer,
on the same batches; fit runs in this process with every callback and logger of the default command, with its
network swapped for the linear one. The difference per step is the time fit spends outside the network and the
optimizer: hooks, callbacks, closure, progress counters, logging. The README's "Where the time goes" quotes it.
"""

import argparse
import contextlib
import io
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from harness import add_data_dir, as_without_lightning, check_data_dir, optimizer_of_default_config, positive_int

from lit_rnn.base.cuda_check import skip_nvml_check_without_nvml
from lit_rnn.cli.lightning_cli import LitRNNCLI
from lit_rnn.data.batches import TensorBatches
from lit_rnn.data.datamodule import MNIST_TRAIN_SIZE, MNISTDataModule

_DEFAULT_DATA = MNISTDataModule()  # the default split and batch size: the plain loop's epoch
EPOCH_STEPS = math.ceil((MNIST_TRAIN_SIZE - _DEFAULT_DATA.val_size) / _DEFAULT_DATA.batch_size)


def linear_network() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))


def plain_loop(data_dir: Path, steps: int) -> float:
    """CPU seconds of ``steps`` plain training steps of the linear network."""
    L.seed_everything(1, verbose=False)
    network = linear_network()
    optimizer = optimizer_of_default_config(network.parameters())
    data = MNISTDataModule(data_dir=str(data_dir))
    data.setup("fit")
    batches = TensorBatches(*data.splits["train"], data.batch_size, shuffle=True, seed=1)
    with as_without_lightning():
        start = time.process_time()
        for _, (images, labels) in zip(range(steps), batches):
            loss = torch.nn.functional.cross_entropy(network(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return time.process_time() - start


class StepClock(L.Callback):
    """CPU seconds from the start of the first training step to the end of the last one."""

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step == 0:
            self.start = time.process_time()

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step == trainer.max_steps:
            self.seconds = time.process_time() - self.start


def fit_loop(data_dir: Path, steps: int, workdir: Path) -> float:
    """CPU seconds of ``steps`` of fit's training steps on the linear network, with the default command's callbacks."""
    os.chdir(workdir)
    cli = LitRNNCLI(
        args=[f"--data.data_dir={data_dir}", f"--trainer.max_steps={steps}", "--trainer.limit_val_batches=0"]
    )
    cli.model.network = linear_network()  # the optimizer is built from the module's parameters when fit starts
    clock = StepClock()
    cli.trainer.callbacks.append(clock)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        cli.trainer.fit(cli.model, cli.datamodule)
    return clock.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_dir(parser)
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=800,
        help=f"training steps of each run, at most an epoch's {EPOCH_STEPS} (default: %(default)s)",
    )
    parser.add_argument(
        "--repeats", type=positive_int, default=5, help="runs of each; the median is reported (default: %(default)s)"
    )
    args = parser.parse_args()
    if args.steps > EPOCH_STEPS:
        parser.error(
            f"--steps {args.steps} is more than the {EPOCH_STEPS} steps of an epoch, which the plain loop runs at most"
        )
    check_data_dir(args.data_dir)
    torch.set_num_threads(1)
    skip_nvml_check_without_nvml()  # as fit's command does in its own process
    for name in ("lightning.pytorch", "lightning.fabric"):  # fit's summary and notices: not this script's figures
        logging.getLogger(name).setLevel(logging.WARNING)
    sys.argv = sys.argv[:1]  # the CLI below reads its own arguments, not this script's
    data_dir = args.data_dir.resolve()
    print(f"torch {torch.__version__}, one CPU thread, {args.steps} steps of a linear network; CPU ms per step:")
    print(f"{'plain':>8}{'fit':>8}{'Lightning':>11}")
    extra = []
    with tempfile.TemporaryDirectory(prefix="step_overhead_") as workdir:
        for _ in range(args.repeats):
            plain, fit = (
                plain_loop(data_dir, args.steps) / args.steps,
                fit_loop(data_dir, args.steps, Path(workdir)) / args.steps,
            )
            extra.append(fit - plain)
            print(f"{plain * 1e3:8.3f}{fit * 1e3:8.3f}{(fit - plain) * 1e3:11.3f}", flush=True)
    print(
        f"\nLightning's own work per training step, median of {args.repeats}: {statistics.median(extra) * 1e3:.3f} ms"
    )


if __name__ == "__main__":
    main()
