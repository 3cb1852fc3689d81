"""Checks of the settings that Lightning itself makes only late: after an epoch of training, or as a crash.

A callback's metric is checked on the built Trainer: a callback may name it under any argument.
"""

from typing import Any

import lightning as L

from lit_rnn.errors import check_config
from lit_rnn.model import MNISTClassifier

def check_monitor(argument: str, monitor: Any) -> None:
    """Refuse a metric to watch that the model never logs: Lightning finds out at the first validation's end."""
    check_config(monitor is None or monitor in MNISTClassifier.MONITORABLE, argument, monitor,
                 f"one of the metrics the model logs ({', '.join(MNISTClassifier.MONITORABLE)}), or null")


def check_trainer(trainer: L.Trainer) -> None:
    """Every callback's ``monitor`` (EarlyStopping, ModelCheckpoint, any other)."""
    for callback in trainer.callbacks:
        if hasattr(callback, "monitor"):
            check_monitor(f"trainer.callbacks.monitor (of {type(callback).__name__})", callback.monitor)
