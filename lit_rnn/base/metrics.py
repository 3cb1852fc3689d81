"""What a logged metric is: its name, which way is better, and when it is logged. Each component that logs metrics
(the LightningModule, a callback) declares its own with these; ``lit_rnn.logs.metrics`` gathers them into the one list
that monitors, sweep objectives and the HPARAMS columns are checked against."""

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Metric:
    """A metric a run logs.

    Attributes:
        name: Its tag, such as ``val/acc``.
        mode: ``max`` where a larger value is better, ``min`` where a smaller one is (as ``ModelCheckpoint`` says).
        logged: ``train``: at the training steps that log; ``val``: at every validation; ``test``: at the test.
    """

    name: str
    mode: Literal["max", "min"]
    logged: Literal["train", "val", "test"]

    @property
    def monitorable(self) -> bool:
        """Whether a callback that watches metrics at each validation (``ModelCheckpoint``, ``EarlyStopping``) finds
        it there every time."""
        return self.logged in ("train", "val")
