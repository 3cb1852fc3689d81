"""The command line every entry point shares: LightningCLI over the model and the data, with the project's defaults.

The classes' typed ``__init__`` arguments are the configuration, so ``--model.hidden_size 128`` and
``configs/*.yaml`` map onto them with no glue code, and their docstrings are the ``--help``.
"""

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from jsonargparse import Namespace
from jsonargparse.typing import NonNegativeInt
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import LearningRateMonitor, ProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from lit_rnn.base import interrupts
from lit_rnn.base.class_paths import check_called_classes, check_file_modules, check_named_modules
from lit_rnn.base.errors import ConfigError, check_config
from lit_rnn.base.private_apis import (
    carry_child_errors,
    use_epoch_exact_fit_loop,
)
from lit_rnn.base.yaml_files import read_yaml
from lit_rnn.cli.console import QuietProgressBar, quiet
from lit_rnn.cli.precision import AutoPrecisionTrainer
from lit_rnn.cli.profiling import NoProfiler
from lit_rnn.cli.refused_settings import settings_refused_by_lightning
from lit_rnn.cli.settings_checks import check_monitor, check_trainer
from lit_rnn.data.datamodule import MNISTDataModule
from lit_rnn.logs.hparams import HyperparametersWithMetrics
from lit_rnn.logs.log_figures import LogFigures
from lit_rnn.model.classifier import MNISTClassifier
from lit_rnn.runs import folders as runs
from lit_rnn.runs.checkpointing import AtomicCheckpointIO, RandomState, RunCheckpoint, check_fits
from lit_rnn.runs.logger_runs import check_mlflow_installed, continue_logs, logger_class, logger_configs
from lit_rnn.runs.old_runs import upgrade_config
from lit_rnn.runs.recovery import RecoveryCheckpoint
from lit_rnn.runs.resume import KeepConfigWhenResuming, RunPlan, apply_plan, plan_run

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "default.yaml"
DEFAULT_LOGGER = {
    "class_path": f"{TensorBoardLogger.__module__}.{TensorBoardLogger.__name__}",
    "init_args": {"save_dir": ".", "name": str(runs.LOG_ROOT), "default_hp_metric": False},
}
MAX_SEED = 2**32 - 1  # NumPy's seeds, which seed_everything sets too, are 32-bit
MAX_PROCESSES_OR_STEPS = 2**20  # far beyond any real run, and below what makes Lightning allocate per process
TENSORBOARD_WRITER_OPTIONS = (  # (name, lowest, highest, what it must be)
    ("purge_step", 0, 2**62, "a whole number of steps, 0 or more (a resume sets it by itself)"),
    ("max_queue", 1, 2**20, "a whole number of events from 1 to 1,048,576"),
    ("flush_secs", 0, 86_400, "a number of seconds from 0 to 86,400 (a day)"),
)


def read_config_files(args: list[str]) -> list[str]:
    """Read every ``--config`` file first with the project's YAML reader (jsonargparse's own errors leave the file out,
    and it would expand a file of nested aliases until memory runs out); returns the arguments with the config of a run
    made by an older lit_rnn given as today's (``old_runs``), as YAML text, which ``--config`` also takes."""
    upgraded = list(args)
    for position, (flag, following) in enumerate(zip(args, args[1:] + [""])):
        if flag in ("--config", "-c"):
            path, at = Path(following), position + 1
        elif flag.startswith("--config="):
            path, at = Path(flag.partition("=")[2]), position
        else:
            continue
        if not path.is_file():  # jsonargparse says that it does not exist
            continue
        config = read_yaml(path, "Fix it, or drop --config.")
        check_file_modules(config, str(path))
        if upgrade_config(config) != config:
            text = yaml.safe_dump(upgrade_config(config), sort_keys=False)
            upgraded[at] = text if at != position else f"--config={text}"
    return upgraded


class LitRNNCLI(LightningCLI):
    """LightningCLI that starts from ``configs/default.yaml`` (the tutorial), always checkpoints and logs, and resumes exactly."""

    def __init__(self, args: list[str] | None = None, **kwargs: Any) -> None:
        quiet()
        self.plan: RunPlan | None = None
        self.run: Path | None = None  # the run folder, once claimed
        given = sys.argv[1:] if args is None else args
        check_named_modules(given)
        upgraded = read_config_files(given)
        args = args if upgraded == given else upgraded
        with runs.given_back_on_failure():  # a failure to build leaves no run folder
            super().__init__(
                MNISTClassifier,
                MNISTDataModule,
                trainer_class=AutoPrecisionTrainer,
                args=args,
                run=False,
                seed_everything_default=1,
                trainer_defaults={
                    "logger": DEFAULT_LOGGER,
                    "callbacks": [
                        LearningRateMonitor(logging_interval="step"),
                        HyperparametersWithMetrics(),
                        LogFigures(),
                        RandomState(),
                    ],
                    "profiler": {"class_path": f"{NoProfiler.__module__}.{NoProfiler.__name__}"},
                },
                # A bad value raises, so that the entry point prints one message instead of the whole usage.
                # Options by their whole names: --model.hidden would otherwise be taken for another option it begins.
                parser_kwargs={
                    "default_config_files": [str(DEFAULT_CONFIG)],
                    "exit_on_error": False,
                    "allow_abbrev": False,
                },
                save_config_callback=KeepConfigWhenResuming,
                auto_configure_optimizers=False,
                **kwargs,
            )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(RunCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/acc",
                "checkpoint.mode": "max",
                "checkpoint.filename": "best-{epoch}-{step}",
                "checkpoint.save_last": True,
            }
        )
        parser.add_lightning_class_args(RecoveryCheckpoint, "recovery")
        parser.add_argument(
            "--ckpt_path",
            type=str | None,
            default=None,
            help="Checkpoint to resume from, in its own run folder: a path, or 'last' for the newest run's newest checkpoint.",
        )
        parser.add_argument(
            "--job_id",
            type=str | None,
            default=None,
            help="The job this fit is part of ($SLURM_JOB_ID, a torchrun --rdzv-id): its first fit starts a new run "
            "marked with it, and each later one (a requeued job, a restarted worker group) goes on in that run from its "
            "newest checkpoint, with no --ckpt_path.",
        )
        parser.add_argument(
            "--progress_bar_refresh_rate",
            type=NonNegativeInt,
            default=20,
            help="Training steps between redraws of the progress bar (0: no bar). Lightning's default, 1, costs about "
            "a tenth of each step of the default network on a CPU.",
        )

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        super().parse_arguments(parser, args)
        check_called_classes(self.config)
        check_run_settings(self.config)

    def before_instantiate_classes(self) -> None:
        self.config_as_given = self.config.clone()
        self.plan = plan_run(self.config)
        if self.config.trainer.logger is True:  # "a logger": the project's own, not Lightning's plain one
            self.config.trainer.logger = Namespace(
                class_path=DEFAULT_LOGGER["class_path"], init_args=Namespace(**DEFAULT_LOGGER["init_args"])
            )
        interrupts.set_phase(interrupts.START_UP)  # from here a stop must give back the run folder about to be claimed
        self.run = apply_plan(self.plan, self.config)

    def instantiate_classes(self) -> None:
        """Build the model, the data and the Trainer, and check them together."""
        with settings_refused_by_lightning():
            super().instantiate_classes()
        check_trainer(self.trainer, self.config.trainer.get("strategy"))
        if self.plan.checkpoint is not None:
            check_fits(self.plan.checkpoint, self.config.ckpt_path, self.model)
        if self.run is not None and rank_zero_only.rank == 0:
            resumed_at = self.plan.checkpoint["global_step"] if self.plan.run is not None else None
            continue_logs(self.trainer.loggers, self.run, resumed_at)
        self.plan = replace(self.plan, checkpoint=None)  # now held by the checkpoint IO alone, until Lightning loads it

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """A progress bar at ``progress_bar_refresh_rate`` (unless it is off or another is configured); atomic checkpoints."""
        config = self.config_init.get("trainer", {})
        callbacks = config.get("callbacks") or []
        callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
        if config.get("enable_progress_bar") is not False and not any(isinstance(c, ProgressBar) for c in callbacks):
            refresh_rate = self.config_init.progress_bar_refresh_rate
            kwargs["callbacks"] = [*callbacks, QuietProgressBar(refresh_rate=refresh_rate)]
        if not config.get("logger"):  # nothing to log the learning rate to
            defaults = [c for c in self.trainer_defaults["callbacks"] if not isinstance(c, LearningRateMonitor)]
            self.trainer_defaults = {**self.trainer_defaults, "callbacks": defaults}
        trainer = super().instantiate_trainer(**kwargs)
        for callback in trainer.callbacks:  # config.yaml holds the settings as given, not the run's own paths
            if isinstance(callback, KeepConfigWhenResuming):
                callback.config = self.config_as_given
        resumed = self.plan.checkpoint_path, self.plan.checkpoint
        trainer.strategy.checkpoint_io = AtomicCheckpointIO(resumed if self.plan.checkpoint is not None else None)
        use_epoch_exact_fit_loop(trainer)
        carry_child_errors(trainer)
        return trainer


def check_run_settings(config: Namespace) -> None:
    """Refuse settings that Lightning would accept now and fail on later, in the middle of a run."""
    seed = config.seed_everything
    check_config(
        isinstance(seed, bool) or 0 <= seed <= MAX_SEED,
        "seed_everything",
        seed,
        f"true (a random seed), false (none), or a whole number from 0 to {MAX_SEED}",
    )
    check_config(
        config.trainer.get("enable_checkpointing") is not False,
        "trainer.enable_checkpointing",
        False,
        "true: every run keeps checkpoints to resume from (to keep no best ones, set --checkpoint.save_top_k 0)",
    )
    check_config(
        not config.trainer.get("barebones"),
        "trainer.barebones",
        True,
        "false: barebones mode turns off the checkpoints, logs and callbacks that every run keeps (for speed "
        "alone, lit_rnn's defaults already skip the per-step costs Lightning's barebones mode removes)",
    )
    check_monitor("checkpoint.monitor", config.checkpoint.monitor)
    check_config(
        config.checkpoint.dirpath is None,
        "checkpoint.dirpath",
        config.checkpoint.dirpath,
        "null: checkpoints live in their run's folder (version_N/checkpoints); to keep the runs elsewhere, "
        "set --trainer.logger.init_args.save_dir",
    )
    trainer = config.trainer
    for key, lowest in (("accumulate_grad_batches", 1), ("check_val_every_n_epoch", 1), ("num_nodes", 1)):
        value = trainer.get(key)
        check_config(
            value is None or lowest <= value <= MAX_PROCESSES_OR_STEPS,
            f"trainer.{key}",
            value,
            f"a whole number from {lowest} to {MAX_PROCESSES_OR_STEPS:,}",
        )
    _check_last_epoch_validated(trainer)
    devices = trainer.get("devices")
    count = int(devices) if isinstance(devices, str) and devices.strip().isdigit() else devices  # "4" means 4 too
    check_config(
        not isinstance(count, int) or count <= MAX_PROCESSES_OR_STEPS,
        "trainer.devices",
        devices,
        f"'auto', a list of device numbers, or a number of devices up to {MAX_PROCESSES_OR_STEPS:,}",
    )
    interval = trainer.get("val_check_interval")
    check_config(
        not isinstance(interval, (int, float)) or interval > 0,
        "trainer.val_check_interval",
        interval,
        "a positive share of an epoch (such as 0.5) or number of steps; to validate less often, raise "
        "--trainer.check_val_every_n_epoch",
    )
    test_batches = trainer.get("limit_test_batches")
    check_config(
        test_batches is None or test_batches > 0,
        "trainer.limit_test_batches",
        test_batches,
        "above 0: fit ends by testing the model on the test set (1.0, the default, tests all of it)",
    )
    endless = trainer.get("max_epochs") == -1 and trainer.get("max_steps") in (None, -1) and not trainer.get("max_time")
    check_config(
        not endless,
        "trainer.max_epochs",
        -1,
        "a number of epochs, unless --trainer.max_steps or "
        "--trainer.max_time ends the run: -1 alone trains without end",
    )
    check_logger_settings(config)


def check_logger_settings(config: Namespace) -> None:
    """One logger of each kind; MLflow installed where it is asked for; TensorBoard's own writer options, which it
    takes untyped and fails on deep inside its writer thread."""
    loggers = logger_configs(config)
    kinds = [kind for kind in map(logger_class, loggers) if kind is not None]
    twice = sorted({kind.__name__ for kind in kinds if kinds.count(kind) > 1})
    if twice:
        raise ConfigError(
            f"--trainer.logger lists {' and '.join(twice)} more than once. A run's loggers all write into "
            "its one folder (and MLflow into its one MLflow run), so a second logger of a kind would write "
            "the same files: keep one of each kind."
        )
    check_mlflow_installed(config)
    for number, logger in enumerate(loggers):
        init_args = getattr(logger, "init_args", None) or {}
        key = "trainer.logger.init_args" if len(loggers) == 1 else f"trainer.logger.{number}.init_args"
        for name, lowest, highest, what in TENSORBOARD_WRITER_OPTIONS:
            value = init_args.get(name)
            number_given = isinstance(value, (int, float)) and not isinstance(value, bool)
            check_config(value is None or number_given and lowest <= value <= highest, f"{key}.{name}", value, what)


def _check_last_epoch_validated(trainer: Namespace) -> None:
    """Refuse a validation cadence that skips the last epochs: Lightning validates only after the epochs whose number
    ``check_val_every_n_epoch`` divides, so the last epochs' weights would reach neither the best checkpoint nor the
    test. Checked on the settings, so that a sweep refuses it before any trial runs."""
    every, epochs = trainer.get("check_val_every_n_epoch"), trainer.get("max_epochs")
    if not every or not epochs or epochs < 1 or trainer.get("limit_val_batches") == 0 or trainer.get("fast_dev_run"):
        return  # no cadence, a run ended by max_steps or max_time, no validation, or fast_dev_run's one epoch
    skipped = epochs % every
    check_config(
        skipped == 0,
        "trainer.check_val_every_n_epoch",
        every,
        f"a divisor of --trainer.max_epochs ({epochs}): Lightning validates only after the epochs whose number it "
        f"divides, so the weights of the last {skipped} epoch{'s' if skipped > 1 else ''} would reach neither the best "
        f"checkpoint nor the test. Set it to {epochs} to validate once, after the last epoch",
    )
