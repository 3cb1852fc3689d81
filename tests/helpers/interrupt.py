"""Test-only: a callback that interrupts its own training run at a precise moment.

Passed on the command line (``--trainer.callbacks+=helpers.interrupt.InterruptAt --trainer.callbacks.step=7``),
so that the run under test is the real ``python -m lit_rnn.fit`` process, killed or signalled from inside.
"""

import io
import os
import signal as signals
from pathlib import Path

import lightning as L

MOMENTS = ("step", "epoch", "save", "validation", "sanity", "test")
TARGETS = ("self", "server", "worker", "worker group")


class InterruptAt(L.Callback):
    """Sends ``signal`` to its own process once training has reached ``step``.

    Args:
        step: The global step (optimizer steps done) at which to act.
        moment: ``step``: as the step starts (mid-step for a SIGKILL); ``epoch``: as the epoch that starts at
            that step starts, after the previous epoch's checkpoints are written; ``save``: halfway through the
            first checkpoint write at or after that step (always a SIGKILL); ``validation``: at the end of the
            first validation at or after that step, before its checkpoints are written; ``sanity``: as the sanity
            check starts; ``test``: as the final test starts (``step`` is ignored for these two).
        signal: ``KILL``, ``TERM`` or ``INT``.
        target: Who gets it: ``self``; in a sweep's trial, ``server`` (the fork server, the fit's parent), ``worker``
            (the server's parent) or ``worker group`` (the worker's process group, as a terminal's Ctrl-C).
        once_file: Fire only if this file is not there, and create it: once over all the processes that run with
            this callback (a sweep's trials, and the same sweep started again).
    """

    def __init__(
        self, step: int, moment: str = "step", signal: str = "KILL", target: str = "self", once_file: str = ""
    ) -> None:
        assert moment in MOMENTS, moment
        assert target in TARGETS, target
        self.step, self.moment, self.signum = step, moment, getattr(signals, f"SIG{signal}")
        self.target, self.once_file = target, once_file
        self._fired = False

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.moment == "save":
            from lit_rnn.runs import checkpointing

            write_atomically = checkpointing.write_atomically

            def write_half_then_die(path, write):
                if trainer.global_step < self.step:
                    return write_atomically(path, write)

                def half(handle):
                    buffer = io.BytesIO()
                    write(buffer)
                    data = buffer.getvalue()
                    handle.write(data[: len(data) // 2])
                    handle.flush()
                    os.kill(os.getpid(), signals.SIGKILL)

                return write_atomically(path, half)

            checkpointing.write_atomically = write_half_then_die

    def on_train_batch_start(self, trainer: L.Trainer, *args) -> None:
        if self.moment == "step" and trainer.global_step == self.step:
            self._fire()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.moment == "epoch" and trainer.global_step == self.step:
            self._fire()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.moment == "validation" and not trainer.sanity_checking and trainer.global_step >= self.step:
            self._fire()

    def on_sanity_check_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.moment == "sanity":
            self._fire()

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.moment == "test":
            self._fire()

    def _fire(self) -> None:
        if self._fired:  # a SIGTERM or SIGINT lets the run go on to the end of the step
            return
        self._fired = True
        if self.once_file:
            try:
                Path(self.once_file).open("x").close()
            except FileExistsError:
                return
        if self.target == "self":
            os.kill(os.getpid(), self.signum)
        elif self.target == "server":
            os.kill(os.getppid(), self.signum)
        else:
            worker = int(Path(f"/proc/{os.getppid()}/stat").read_text().rpartition(")")[2].split()[1])
            if self.target == "worker":
                os.kill(worker, self.signum)
            else:
                os.killpg(os.getpgid(worker), self.signum)
