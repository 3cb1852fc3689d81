"""The command line every entry point shares: LightningCLI over the model and the data, with the project's defaults.

The classes' typed ``__init__`` arguments are the configuration, so ``--model.hidden_size 128`` and
``configs/*.yaml`` map onto them with no glue code, and their docstrings are the ``--help``.
"""

import sys
from pathlib import Path
from typing import Any

import yaml
from jsonargparse.typing import NonNegativeInt
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, ProgressBar, TQDMProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from lit_rnn.callbacks import HyperparametersWithMetrics
from lit_rnn.checkpointing import AtomicCheckpointIO, RandomState, check_fits
from lit_rnn.data import MNISTDataModule
from lit_rnn.errors import ConfigError
from lit_rnn.log_figures import LogFigures
from lit_rnn.logger import RunLogger
from lit_rnn.model import MNISTClassifier
from lit_rnn.profiling import NoProfiler
from lit_rnn.recovery import RecoveryCheckpoint
from lit_rnn.resume import KeepConfigWhenResuming, resolve_resume

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "default.yaml"
LOG_ROOT = "lightning_logs"


def check_yaml_files(args: list[str]) -> None:
    """Name a ``--config`` file that does not parse: jsonargparse's own error leaves the file out."""
    for flag, following in zip(args, args[1:] + [""]):
        if flag in ("--config", "-c"):
            path = Path(following)
        elif flag.startswith("--config="):
            path = Path(flag.partition("=")[2])
        else:
            continue
        if not path.is_file():
            continue  # jsonargparse says that it does not exist
        try:
            yaml.safe_load(path.read_text())
        except yaml.MarkedYAMLError as error:
            raise ConfigError(
                f"The config file {path} is not valid YAML: {error.problem} at line {error.problem_mark.line + 1}, "
                f"column {error.problem_mark.column + 1}. Fix it, or drop --config."
            ) from None


class LitRNNCLI(LightningCLI):
    """LightningCLI that starts from ``configs/default.yaml`` (the tutorial), always checkpoints and logs, and resumes exactly."""

    def __init__(self, args: list[str] | None = None, **kwargs: Any) -> None:
        self.resumed_checkpoint: dict[str, Any] | None = None
        check_yaml_files(sys.argv[1:] if args is None else args)
        super().__init__(
            MNISTClassifier,
            MNISTDataModule,
            args=args,
            run=False,
            seed_everything_default=1,
            trainer_defaults={
                "logger": {"class_path": f"{RunLogger.__module__}.{RunLogger.__name__}",
                           "init_args": {"save_dir": ".", "name": LOG_ROOT, "default_hp_metric": False}},
                "callbacks": [LearningRateMonitor(logging_interval="step"), HyperparametersWithMetrics(), LogFigures(),
                              RandomState()],
                "profiler": {"class_path": f"{NoProfiler.__module__}.{NoProfiler.__name__}"},
            },
            # A bad value raises, so that the entry point prints one message instead of the whole usage.
            parser_kwargs={"default_config_files": [str(DEFAULT_CONFIG)], "exit_on_error": False},
            save_config_callback=KeepConfigWhenResuming,
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
        parser.add_lightning_class_args(RecoveryCheckpoint, "recovery")
        parser.add_argument(
            "--ckpt_path", type=str | None, default=None,
            help="Checkpoint to resume from, in its own run folder: a path, or 'last' for the newest run's newest checkpoint.",
        )
        parser.add_argument(
            "--progress_bar_refresh_rate", type=NonNegativeInt, default=20,
            help="Training steps between redraws of the progress bar (0: no bar). Lightning's default, 1, costs about "
                 "a tenth of each step of the default network on a CPU.",
        )

    def before_instantiate_classes(self) -> None:
        if self.config.ckpt_path is not None:
            self.resumed_checkpoint = resolve_resume(self.config)

    def instantiate_classes(self) -> None:
        super().instantiate_classes()
        if self.resumed_checkpoint is not None:
            check_fits(self.resumed_checkpoint, self.config.ckpt_path, self.model)
            self.resumed_checkpoint = None

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """A progress bar at ``progress_bar_refresh_rate`` (unless it is off or another is configured); atomic checkpoints."""
        config = self._get(self.config_init, "trainer", default={})
        callbacks = config.get("callbacks") or []
        callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
        if config.get("enable_progress_bar") is not False and not any(isinstance(c, ProgressBar) for c in callbacks):
            refresh_rate = self._get(self.config_init, "progress_bar_refresh_rate")
            kwargs["callbacks"] = [*callbacks, TQDMProgressBar(refresh_rate=refresh_rate)]
        trainer = super().instantiate_trainer(**kwargs)
        trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        return trainer
