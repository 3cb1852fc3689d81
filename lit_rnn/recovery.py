"""Recovery checkpoints: a crash loses at most a few minutes of training, and SIGTERM or Ctrl-C lose nothing."""

import os
import signal
import time
import warnings
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Checkpoint

from lit_rnn.checkpointing import PARTIAL_SUFFIX, sync_folder
from lit_rnn.errors import UserError, check_config

RECOVERY_NAME = "recovery.ckpt"

# A second checkpoint callback makes ``ckpt_path="best"`` warn; "best" still means the ModelCheckpoint's best.
warnings.filterwarnings("ignore", message=r".*configured with multiple `ModelCheckpoint` callbacks")


class TrainingStopped(UserError):
    """A signal stopped training after its state was saved; the exit code is the shell's 128 + signal number."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


def checkpoint_folder(trainer: L.Trainer) -> Path:
    """The folder that the run's ``ModelCheckpoint`` writes to (``version_N/checkpoints`` by default)."""
    callback = trainer.checkpoint_callback
    if callback is not None and getattr(callback, "dirpath", None) is not None:
        return Path(callback.dirpath)
    return Path(trainer.log_dir or trainer.default_root_dir) / "checkpoints"


class RecoveryCheckpoint(Checkpoint):
    """Keeps ``recovery.ckpt`` beside the run's best and last checkpoints, overwritten at each save.

    It is saved when training starts, then every ``every_n_steps`` steps and whenever ``every_n_minutes``
    have passed since the last save, so that a crash costs at most that much work, and when training ends.
    On SIGTERM or Ctrl-C it is saved at the end of the current step and the run stops with exit code 143
    or 130; a second Ctrl-C stops at once. ``--ckpt_path last`` resumes from the newest checkpoint.

    A step's state is written when the step ends but only takes the name ``recovery.ckpt`` once the step's
    metrics are logged, at the start of the next step; when a validation follows the step, the state after
    that validation is saved instead (a run resumed from before a validation would skip it). Every
    checkpoint, this one's and ModelCheckpoint's, first flushes the loggers, so that the logs on disk reach
    at least as far as any checkpoint.

    Args:
        every_n_steps: Save after every this many training steps; 0 saves on no step count.
        every_n_minutes: Save after a step that ends this many minutes after the last save; 0 saves on no timer.
    """

    def __init__(self, every_n_steps: int = 500, every_n_minutes: float = 5.0) -> None:
        check_config(every_n_steps >= 0, "recovery.every_n_steps", every_n_steps, "0 (off) or a positive whole number")
        check_config(every_n_minutes >= 0, "recovery.every_n_minutes", every_n_minutes, "0 (off) or a positive number")
        self.every_n_steps, self.every_n_minutes = every_n_steps, every_n_minutes
        self._last_save = time.monotonic()
        self._due = False  # a save waits for the end of the validation or epoch that follows the step
        self._staged: Path | None = None  # a step's state, written but not yet named recovery.ckpt
        self._stop_signal: int | None = None
        self._replaced: dict[int, Any] = {}

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # Ctrl-C from now on asks for a stop; SIGTERM is taken over from Lightning once training starts.
        if stage == "fit":
            self._take_over(signal.SIGINT)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        for logger in trainer.loggers:
            logger.save()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.received_sigterm:  # arrived before training, while Lightning's own handler was in place
            self._stop_signal = self._stop_signal or signal.SIGTERM
        self._take_over(signal.SIGTERM)
        if trainer.ckpt_path is None:  # a new run: resumable from its very first step
            self._save(trainer)
        self._stop_if_asked(trainer)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        steps_due = self.every_n_steps > 0 and trainer.global_step % self.every_n_steps == 0
        time_due = self.every_n_minutes > 0 and time.monotonic() - self._last_save >= 60 * self.every_n_minutes
        # Rank 0 decides, so that all ranks save (a collective call) and stop together.
        due, self._stop_signal = trainer.strategy.broadcast((steps_due or time_due, self._stop_signal))
        self._due |= due or self._stop_signal is not None
        if self._due and not trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            self._staged = checkpoint_folder(trainer) / f".{RECOVERY_NAME}{PARTIAL_SUFFIX}"
            trainer.save_checkpoint(self._staged, weights_only=False)
            self._due = False

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if self._staged is None:
            return
        for logger in trainer.loggers:  # the previous step's metrics
            logger.save()
        if trainer.is_global_zero:
            os.replace(self._staged, self._staged.parent / RECOVERY_NAME)
            sync_folder(self._staged.parent)
        self._staged = None
        self._last_save = time.monotonic()
        self._stop_if_asked(trainer)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._staged is not None and not trainer.sanity_checking:
            self._drop_staged(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # A validation at the end of the epoch is followed by the epoch's end, where the save happens.
        if trainer.sanity_checking or trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            return
        if self._due or self._stop_signal is not None:
            self._save(trainer)
            self._stop_if_asked(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._staged is not None:  # training stopped mid-epoch (max_steps): save the state after the epoch's end
            self._drop_staged(trainer)
        if self._due or self._stop_signal is not None:
            self._save(trainer)
            self._stop_if_asked(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # The final state: ModelCheckpoint's last.ckpt is only rewritten when the validation score improves.
        self._give_back_signals()
        self._save(trainer)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._give_back_signals()

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._give_back_signals()

    def _save(self, trainer: L.Trainer) -> None:
        trainer.save_checkpoint(checkpoint_folder(trainer) / RECOVERY_NAME, weights_only=False)
        self._due = False
        self._last_save = time.monotonic()

    def _drop_staged(self, trainer: L.Trainer) -> None:
        if trainer.is_global_zero:
            self._staged.unlink(missing_ok=True)
        self._staged, self._due = None, True

    def _stop_if_asked(self, trainer: L.Trainer) -> None:
        if self._stop_signal is None:
            return
        name = signal.Signals(self._stop_signal).name
        raise TrainingStopped(
            f"Training stopped by {name} after step {trainer.global_step}; its state is saved in "
            f"{checkpoint_folder(trainer) / RECOVERY_NAME}. Continue it with the same command plus --ckpt_path last.",
            self._stop_signal,
        )

    def _take_over(self, signum: int) -> None:
        try:
            self._replaced.setdefault(signum, signal.signal(signum, self._ask_to_stop))
        except ValueError:  # not the main thread: signals stay as they are
            pass

    def _give_back_signals(self) -> None:
        for signum, handler in self._replaced.items():
            signal.signal(signum, handler)
        self._replaced.clear()

    def _ask_to_stop(self, signum: int, frame: FrameType | None) -> None:
        if self._stop_signal == signal.SIGINT and signum == signal.SIGINT:
            raise TrainingStopped("Training stopped at once by a second Ctrl-C; the work since the last checkpoint "
                                  "is lost. Continue from that checkpoint with the same command plus --ckpt_path last.",
                                  signum)
        self._stop_signal = signum
        # os.write, not print: the handler may interrupt a print in progress.
        again = " (Ctrl-C again stops at once)" if signum == signal.SIGINT else ""
        os.write(2, f"\n{signal.Signals(signum).name}: saving at the end of this step, then stopping{again}.\n".encode())
