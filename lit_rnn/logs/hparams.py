"""Callbacks the project adds to every run."""

from collections.abc import Sequence

import lightning as L

from lit_rnn.base.errors import check_config
from lit_rnn.logs import metrics as logged
from lit_rnn.logs.outputs import log_settings


class HyperparametersWithMetrics(L.Callback):
    """Logs the run's settings, with the data's, where each logger shows them next to the run's metrics.

    For TensorBoard, Lightning writes the HPARAMS tab either without metrics or with a placeholder
    ``hp_metric = -1``. Here the tab's columns are the given metric tags, whose values are the scalars the
    run logs under them. MLflow and CSV show every metric beside the settings (``logger_outputs``).

    Args:
        metrics: Scalar tags shown as the HPARAMS tab's metric columns.
    """

    def __init__(self, metrics: Sequence[str] = ("val/acc_best", "test/acc")) -> None:
        unknown = [name for name in metrics if name not in logged.METRICS]
        check_config(
            not unknown,
            "trainer.callbacks.init_args.metrics",
            unknown,
            f"metrics a run logs ({logged.listed(logged.METRICS)}, N a class)",
        )
        self.metrics = list(metrics)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_rank != 0:
            return
        # LightningCLI stores how to rebuild the classes under "_instantiator": not a setting.
        settings = {key: value for key, value in pl_module.hparams.items() if not key.startswith("_")}
        network = settings.pop("network", None)
        if isinstance(network, dict):  # its class by name, and each argument a column: network.hidden_size
            settings["network"] = str(network.get("class_path")).rpartition(".")[2]
            settings.update({f"network.{key}": value for key, value in (network.get("init_args") or {}).items()})
        if trainer.datamodule is not None:
            settings.update({f"data.{k}": v for k, v in trainer.datamodule.hparams.items() if not k.startswith("_")})
        for logger in trainer.loggers:
            log_settings(logger, settings, self.metrics)
