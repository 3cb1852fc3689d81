"""Recovery checkpoints: a crash loses at most a few minutes of training, and SIGTERM or Ctrl-C lose nothing."""

import os
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Checkpoint, ModelCheckpoint

from lit_rnn.base import interrupts
from lit_rnn.base.errors import check_config
from lit_rnn.base.private_apis import on_last_batch, take_back_sigterm_from_lightning
from lit_rnn.runs import results as run_results
from lit_rnn.runs.checkpointing import PARTIAL_SUFFIX, sync_folder
from lit_rnn.runs.folders import checkpoint_folder
from lit_rnn.runs.resume import JOB_FILE

RECOVERY_NAME = "recovery.ckpt"


def run_checkpoint(trainer: L.Trainer) -> ModelCheckpoint | None:
    """The run's ``ModelCheckpoint`` (best and last), picked by type: the recovery checkpoint is a checkpoint callback
    too, so Lightning's ``trainer.checkpoint_callback`` would be whichever of the two comes first."""
    return next((callback for callback in trainer.callbacks if isinstance(callback, ModelCheckpoint)), None)


def checkpoints_of(trainer: L.Trainer) -> Path:
    """The folder of the run's checkpoints, where its ``ModelCheckpoint`` writes: the resume plan sets it to the run's
    ``folders.checkpoint_folder``; a run without a folder (a ``fast_dev_run``) gets Lightning's own choice."""
    callback = run_checkpoint(trainer)
    if callback is not None and callback.dirpath is not None:
        return Path(callback.dirpath)
    return checkpoint_folder(Path(trainer.log_dir or trainer.default_root_dir))


def again(trainer: L.Trainer) -> str:
    """How the stopped command goes on: a job's fit (``--job_id``) by the same command, which finds its run; any other
    with ``--ckpt_path last``."""
    return "the same command" + (
        "" if (checkpoints_of(trainer).parent / JOB_FILE).is_file() else " plus --ckpt_path last"
    )


def after_training(trainer: L.Trainer) -> str:
    """What a signal after training means: nothing is lost, and how to get the rest of the command done."""
    return f"after training: the trained model is saved in {checkpoints_of(trainer)}. Test it with {again(trainer)}."


def training_ends_with_this_epoch(trainer: L.Trainer) -> bool:
    """Whether fit ends when the epoch now ending has ended, as Lightning's fit loop decides (its ``done``), read from
    the Trainer's public limits: ``max_epochs`` or ``max_steps`` reached, or a stop asked for (early stopping) once
    the minimums are met. Called in ``on_train_epoch_end``, where ``current_epoch`` still counts the epoch unfinished."""
    epochs, steps = trainer.current_epoch + 1, trainer.global_step
    if trainer.max_epochs not in (None, -1) and epochs >= trainer.max_epochs:
        return True
    if trainer.max_steps != -1 and steps >= trainer.max_steps:
        return True
    return trainer.should_stop and epochs >= (trainer.min_epochs or 0) and steps >= (trainer.min_steps or 0)


class RecoveryCheckpoint(Checkpoint):
    """Keeps ``recovery.ckpt`` beside the run's best and last checkpoints, overwritten at each save.

    It is saved when training starts, then every ``every_n_steps`` steps and whenever ``every_n_minutes``
    have passed since the last save, so that a crash costs at most that much work, and when training ends.
    On SIGTERM or Ctrl-C it is saved at the end of the current optimizer step (with gradient accumulation,
    the step that completes the accumulation) and the run stops with exit code 143 or 130; a second Ctrl-C
    stops at once. ``--ckpt_path last`` resumes from the newest checkpoint. A ``fast_dev_run`` saves nothing.

    A step's state is written when the step ends but only takes the name ``recovery.ckpt`` once the step's
    metrics are logged, at the start of the next step; when a validation follows the step, the state after
    that validation is saved instead (a run resumed from before a validation would skip it). Every
    checkpoint, this one's and ModelCheckpoint's, first flushes the loggers and records the metrics so far in
    the run's ``results.json``, so that the logs on disk reach at least as far as any checkpoint: a run
    resumed after its last validation validates no more, and its results still hold that validation's.

    Its two triggers are those of ``ModelCheckpoint(every_n_train_steps=..., train_time_interval=...)``, which is
    not used for it: it saves at the end of the batch, before a validation that follows the step (a run resumed from
    it would skip that validation) and before the step's metrics reach the logs, and it cannot stop on a signal.

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
        self._steps_seen = 0  # the optimizer steps done when the last batch ended

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        for logger in trainer.loggers:
            logger.save()
        metrics = trainer.callback_metrics  # read on every process: reading may gather the ranks' values
        if trainer.is_global_zero and not trainer.fast_dev_run:
            run_results.record(checkpoints_of(trainer).parent, metrics)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.fast_dev_run:
            return
        # From here a signal waits for the end of the step, with the project's handler, not Lightning's.
        take_back_sigterm_from_lightning()
        interrupts.defer()
        self._steps_seen = trainer.global_step
        if trainer.ckpt_path is None:  # a new run: resumable from its very first step
            self._save(trainer)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if trainer.fast_dev_run:
            return
        stepped, self._steps_seen = trainer.global_step != self._steps_seen, trainer.global_step
        if not stepped:  # in the middle of an accumulation: the gradients so far are in no checkpoint
            return
        steps_due = self.every_n_steps > 0 and trainer.global_step % self.every_n_steps == 0
        time_due = self.every_n_minutes > 0 and time.monotonic() - self._last_save >= 60 * self.every_n_minutes
        # Rank 0 decides, so that all ranks save (a collective call) and stop together.
        due, self._stop_signal = trainer.strategy.broadcast((steps_due or time_due, interrupts.requested()))
        self._due |= due or self._stop_signal is not None
        if self._due and not on_last_batch(trainer):
            self._staged = checkpoints_of(trainer) / f".{RECOVERY_NAME}{PARTIAL_SUFFIX}"
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
        if trainer.sanity_checking or trainer.fast_dev_run or on_last_batch(trainer):
            return
        if self._stop_requested(trainer) or self._due:
            self._save(trainer)
            self._stop_if_asked(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.fast_dev_run:
            return
        if self._staged is not None:  # training stopped mid-epoch (max_steps): save the state after the epoch's end
            self._drop_staged(trainer)
        if training_ends_with_this_epoch(trainer):
            return  # on_train_end, next, saves and stops, in the state after Lightning has counted this epoch done
        if self._stop_requested(trainer) or self._due:
            self._save(trainer)
            self._stop_if_asked(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.fast_dev_run:
            return
        # The final state: ModelCheckpoint's last.ckpt is only rewritten when the validation score improves.
        self._save(trainer)
        pending = self._stop_requested(trainer)
        interrupts.set_phase(after_training(trainer), announce=trainer.is_global_zero)
        if pending:
            interrupts.stop(self._stop_signal, after_training(trainer), announce=trainer.is_global_zero)

    def _save(self, trainer: L.Trainer) -> None:
        trainer.save_checkpoint(checkpoints_of(trainer) / RECOVERY_NAME, weights_only=False)
        self._due = False
        self._last_save = time.monotonic()

    def _drop_staged(self, trainer: L.Trainer) -> None:
        if trainer.is_global_zero:
            self._staged.unlink(missing_ok=True)
        self._staged, self._due = None, True

    def _stop_requested(self, trainer: L.Trainer) -> bool:
        """Whether a signal asked to stop; rank 0 decides, so that all ranks save (a collective call) and stop together."""
        self._stop_signal = trainer.strategy.broadcast(interrupts.requested())
        return self._stop_signal is not None

    def _stop_if_asked(self, trainer: L.Trainer) -> None:
        if self._stop_signal is not None:
            interrupts.stop(
                self._stop_signal,
                f"after step {trainer.global_step}; the training so far is saved in "
                f"{checkpoints_of(trainer) / RECOVERY_NAME}. Continue it with {again(trainer)}.",
                announce=trainer.is_global_zero,
            )
