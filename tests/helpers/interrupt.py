"""Test-only: a callback that interrupts its own training run at a precise moment.

Passed on the command line (``--trainer.callbacks+=helpers.interrupt.InterruptAt --trainer.callbacks.step=7``),
so that the run under test is the real ``python -m lit_rnn.fit`` process, killed or signalled from inside.
"""

import io
import os
import signal as signals

import lightning as L

MOMENTS = ("step", "epoch", "save", "validation", "sanity", "test")


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
    """

    def __init__(self, step: int, moment: str = "step", signal: str = "KILL") -> None:
        assert moment in MOMENTS, moment
        self.step, self.moment, self.signum = step, moment, getattr(signals, f"SIG{signal}")
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
        if not self._fired:  # a SIGTERM or SIGINT lets the run go on to the end of the step
            self._fired = True
            os.kill(os.getpid(), self.signum)
