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


def check_trainer(trainer: L.Trainer, strategy: Any) -> None:
    """Every callback's ``monitor`` (EarlyStopping, ModelCheckpoint, any other), and a strategy that runs fit in
    processes of the command's own (``strategy`` as given, to name it)."""
    for callback in trainer.callbacks:
        if hasattr(callback, "monitor"):
            check_monitor(f"trainer.callbacks.monitor (of {type(callback).__name__})", callback.monitor)
    check_config(
        not spawns_processes(trainer),
        "trainer.strategy",
        strategy,
        "ddp for several processes: this strategy starts new ones for fit and again for the test, where the "
        "run's folder, lock and checkpoints are already the command's own, and hands the weights back in a "
        "file that is not a checkpoint (Lightning's docs prefer ddp too)",
    )
