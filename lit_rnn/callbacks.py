"""Callbacks the project adds to every run."""

from collections.abc import Sequence

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger

from lit_rnn.lightning_internals import write_hparams


class HyperparametersWithMetrics(L.Callback):
    """Fills TensorBoard's HPARAMS tab with the run's settings next to real metrics.

    Lightning writes the tab either without metrics or with a placeholder ``hp_metric = -1``. Here the
    tab's columns are the given metric tags, whose values are the scalars the run logs under them.

    Args:
        metrics: Scalar tags shown as the HPARAMS tab's metric columns.
    """

    def __init__(self, metrics: Sequence[str] = ("val/acc_best", "test/acc")) -> None:
        self.metrics = list(metrics)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        logger = trainer.logger
        if not isinstance(logger, TensorBoardLogger) or trainer.global_rank != 0:
            return
        # LightningCLI stores how to rebuild the classes under "_instantiator": not a setting.
        settings = {key: value for key, value in pl_module.hparams.items() if not key.startswith("_")}
        if trainer.datamodule is not None:
            settings.update({f"data.{k}": v for k, v in trainer.datamodule.hparams.items() if not k.startswith("_")})
        write_hparams(logger, settings, self.metrics)
