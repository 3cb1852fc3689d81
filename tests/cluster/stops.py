"""Test-only callbacks for the cluster tests, named on the real command line (``--trainer.callbacks+=cluster.stops.NAME``):
a run held at a step while the test pre-empts it, a run slow enough for a scheduler's timed signals, a process lost."""

import os
import signal
import time
from pathlib import Path

import lightning as L


class HoldAt(L.Callback):
    """At step ``step``, once (``flag`` records it), writes the process's Slurm job and its pid into ``flag`` and holds
    training still for ``seconds``: the test then pre-empts that job in the middle of the step.

    Args:
        step: The global step at which to hold.
        seconds: How long.
        flag: Created, exclusively, when the hold begins: of several processes only one holds.
    """

    def __init__(self, step: int, seconds: float, flag: str) -> None:
        self.step, self.seconds, self.flag = step, seconds, Path(flag)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step != self.step or not trainer.is_global_zero:
            return
        try:
            with open(self.flag, "x") as flag:
                flag.write(f"{slurm_job()} {os.getpid()}\n")
        except FileExistsError:
            return
        time.sleep(self.seconds)


def slurm_job() -> str:
    """The Slurm job this process runs in, as scontrol names it: an array's task as ARRAY_TASK."""
    array = os.environ.get("SLURM_ARRAY_JOB_ID")
    return f"{array}_{os.environ['SLURM_ARRAY_TASK_ID']}" if array else os.environ.get("SLURM_JOB_ID", "")


class SlowSteps(L.Callback):
    """Sleeps ``seconds`` after each training step: a run that is still training when a timed signal comes.

    Args:
        seconds: The sleep after each step.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_train_batch_end(self, trainer: L.Trainer, *args) -> None:
        time.sleep(self.seconds)


class KillOnce(L.Callback):
    """SIGKILLs its own process as step ``step`` starts, on global rank ``rank``, once (``flag`` records it): a worker
    lost in the middle of an epoch, which its launcher then restarts with the same command.

    Args:
        step: The global step.
        rank: The global rank that dies.
        flag: Created just before the kill; while it exists, nothing is killed.
    """

    def __init__(self, step: int, rank: int, flag: str) -> None:
        self.step, self.rank, self.flag = step, rank, Path(flag)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step == self.step and trainer.global_rank == self.rank and not self.flag.exists():
            self.flag.write_text(f"{os.getpid()}\n")
            os.kill(os.getpid(), signal.SIGKILL)
