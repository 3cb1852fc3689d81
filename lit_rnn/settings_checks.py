"""Checks of the built Trainer that Lightning itself makes only late: after an epoch of training, or as a crash.

The config alone cannot say them: a callback may name its metric under any argument, and ``accelerator: auto``
is a CPU or a GPU only once Lightning has looked.
"""

from typing import Any

import lightning as L
from lightning.pytorch.accelerators import CPUAccelerator

from lit_rnn.errors import check_config
from lit_rnn.model import MNISTClassifier

HALF_PRECISIONS = ("16", "16-mixed", "16-true")


def check_monitor(argument: str, monitor: Any) -> None:
    """Refuse a metric to watch that the model never logs: Lightning finds out at the first validation's end."""
    check_config(monitor is None or monitor in MNISTClassifier.MONITORABLE, argument, monitor,
                 f"one of the metrics the model logs ({', '.join(MNISTClassifier.MONITORABLE)}), or null")


def check_trainer(trainer: L.Trainer, precision: Any) -> None:
    """Every callback's ``monitor`` (EarlyStopping, ModelCheckpoint, any other), and no float16 on a CPU.

    ``precision`` is the one asked for: on a CPU, Lightning quietly swaps 16-mixed for bf16-mixed.
    """
    for callback in trainer.callbacks:
        if hasattr(callback, "monitor"):
            check_monitor(f"trainer.callbacks.monitor (of {type(callback).__name__})", callback.monitor)
    check_config(str(precision) not in HALF_PRECISIONS or not isinstance(trainer.accelerator, CPUAccelerator),
                 "trainer.precision", precision,
                 "32-true on a CPU, which has no float16 kernels for the recurrent layers (Lightning would train "
                 "16-mixed as bf16-mixed instead, and 16-true crashes at the first step); 16-bit precision needs a GPU")
