"""The command line every entry point shares: LightningCLI over the model and the data, with the project's defaults.

The classes' typed ``__init__`` arguments are the configuration, so ``--model.hidden_size 128`` and
``configs/*.yaml`` map onto them with no glue code, and their docstrings are the ``--help``.
"""

from pathlib import Path
from typing import Any

from jsonargparse.typing import NonNegativeInt
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, ProgressBar, TQDMProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import TensorBoardLogger

from lit_rnn.callbacks import HyperparametersWithMetrics
from lit_rnn.data import MNISTDataModule
from lit_rnn.model import MNISTClassifier

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "default.yaml"
LOG_ROOT = "lightning_logs"


class LitRNNCLI(LightningCLI):
    """LightningCLI that starts from ``configs/default.yaml`` (the tutorial) and always checkpoints and logs."""

    def __init__(self, args: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(
            MNISTClassifier,
            MNISTDataModule,
            args=args,
            run=False,
            seed_everything_default=1,
            trainer_defaults={
                "logger": {"class_path": TensorBoardLogger.__module__ + ".TensorBoardLogger",
                           "init_args": {"save_dir": ".", "name": LOG_ROOT, "default_hp_metric": False}},
                "callbacks": [LearningRateMonitor(logging_interval="step"), HyperparametersWithMetrics()],
            },
            parser_kwargs={"default_config_files": [str(DEFAULT_CONFIG)]},
            auto_configure_optimizers=False,
            **kwargs,
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({
            "checkpoint.monitor": "val/acc",
            "checkpoint.mode": "max",
            "checkpoint.filename": "best-{epoch}-{step}",
            "checkpoint.save_last": True,
        })
        parser.add_argument(
            "--ckpt_path", type=str | None, default=None,
            help="Checkpoint to resume from: a path, or 'last' for the newest run's latest checkpoint.",
        )
        parser.add_argument(
            "--progress_bar_refresh_rate", type=NonNegativeInt, default=20,
            help="Training steps between redraws of the progress bar (0: no bar). Lightning's default, 1, costs about "
                 "a tenth of each step of the default network on a CPU.",
        )

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """Give the Trainer a progress bar at ``progress_bar_refresh_rate``, unless it is off or another is configured."""
        config = self._get(self.config_init, "trainer", default={})
        callbacks = config.get("callbacks") or []
        callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
        if config.get("enable_progress_bar") is not False and not any(isinstance(c, ProgressBar) for c in callbacks):
            refresh_rate = self._get(self.config_init, "progress_bar_refresh_rate")
            kwargs["callbacks"] = [*callbacks, TQDMProgressBar(refresh_rate=refresh_rate)]
        return super().instantiate_trainer(**kwargs)
