"""Checks of the settings that Lightning itself makes only late: after an epoch of training, or as a crash.

They are checked on the built Trainer: a callback may name its metric under any argument, and a strategy given by
its class starts processes as its arguments say.
"""

from typing import Any

import lightning as L

from lit_rnn.base.errors import check_config
from lit_rnn.base.private_apis import spawns_processes
from lit_rnn.model.classifier import MNISTClassifier


def check_monitor(argument: str, monitor: Any) -> None:
    """Refuse a metric to watch that the model never logs: Lightning finds out at the first validation's end."""
    check_config(
        monitor is None or monitor in MNISTClassifier.MONITORABLE,
        argument,
        monitor,
        f"one of the metrics the model logs ({', '.join(MNISTClassifier.MONITORABLE)}), or null",
    )


def check_last_epoch_validated(trainer: L.Trainer) -> None:
    """Refuse a validation cadence that skips the last epochs: Lightning validates only the epochs that
    ``check_val_every_n_epoch`` divides, so the last epochs' weights would reach neither the best checkpoint nor the
    test, and their training would be spent for nothing."""
    every, epochs = trainer.check_val_every_n_epoch, trainer.max_epochs
    if every is None or epochs is None or epochs < 1 or trainer.limit_val_batches == 0:
        return  # no cadence, no validation, or a run ended by max_steps or max_time at any epoch
    skipped = epochs % every
    check_config(
        skipped == 0,
        "trainer.check_val_every_n_epoch",
        every,
        f"a divisor of --trainer.max_epochs ({epochs}): Lightning validates only after the epochs whose number it "
        f"divides, so the weights of the last {skipped} epoch{'s' if skipped > 1 else ''} would reach neither the best "
        f"checkpoint nor the test. Set it to {epochs} to validate once, after the last epoch",
    )


def check_trainer(trainer: L.Trainer, strategy: Any) -> None:
    """Every callback's ``monitor`` (EarlyStopping, ModelCheckpoint, any other), that the last epoch is validated, and
    a strategy that runs fit in processes of the command's own (``strategy`` as given, to name it)."""
    for callback in trainer.callbacks:
        if hasattr(callback, "monitor"):
            check_monitor(f"trainer.callbacks.monitor (of {type(callback).__name__})", callback.monitor)
    check_last_epoch_validated(trainer)
    check_config(
        not spawns_processes(trainer),
        "trainer.strategy",
        strategy,
        "ddp for several processes: this strategy starts new ones for fit and again for the test, where the "
        "run's folder, lock and checkpoints are already the command's own, and hands the weights back in a "
        "file that is not a checkpoint (Lightning's docs prefer ddp too)",
    )
