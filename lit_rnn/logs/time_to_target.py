"""Time to accuracy: the training seconds a run took to first reach a target validation accuracy, logged as a metric
(``val/seconds_to_target``), so that any sweep can minimize it and any run shows it beside its curves."""

import time
from typing import Any

import lightning as L
import torch

from lit_rnn.base.errors import check_config
from lit_rnn.base.metrics import Metric

METRIC = "val/seconds_to_target"
NOT_YET = float("inf")  # logged until the target is reached: every validation has the metric, as monitors need


class TimeToTarget(L.Callback):
    """Logs ``val/seconds_to_target`` at each validation: the seconds from the start of training (validations
    included, set-up not) to the first validation whose ``val/acc`` reached ``target``, and infinity until one has,
    so that a ``ModelCheckpoint`` or ``EarlyStopping`` may watch it (mode ``min``). A resumed run counts on from its
    checkpoint's seconds.

    Args:
        target: The validation accuracy to reach, in (0, 1]. The validation split holds 5,000 images: one run's
            accuracy on it varies by about 0.0015 around the accuracy on the test set, so a target a little above
            the test accuracy wanted makes reaching it a safer prediction.
    """

    METRICS = (Metric(METRIC, "min", "val"),)

    def __init__(self, target: float = 0.99) -> None:
        check_config(
            isinstance(target, (int, float)) and not isinstance(target, bool) and 0 < target <= 1,
            "trainer.callbacks.init_args.target",
            target,
            "an accuracy in (0, 1]",
        )
        self.target = float(target)
        self.seconds_before = 0.0  # spent by the earlier processes of a resumed run
        self.reached_at: float | None = None
        self._started: float | None = None

    def seconds(self) -> float:
        """Training seconds so far, over every process of the run."""
        return self.seconds_before + (time.perf_counter() - self._started if self._started is not None else 0.0)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started = time.perf_counter()

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        if self.reached_at is None and float(pl_module.val_acc.compute()) >= self.target:
            self.reached_at = self.seconds()
        # Every process decided alike (the accuracy is synced); their clocks differ by a little: the slowest.
        seconds = NOT_YET if self.reached_at is None else self.reached_at
        pl_module.log(METRIC, torch.tensor(seconds), sync_dist=True, reduce_fx="max")

    def state_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds(), "reached_at": self.reached_at}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.seconds_before, self.reached_at = state_dict["seconds"], state_dict["reached_at"]
