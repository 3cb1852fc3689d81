"""``python -m lit_rnn.sweep``: run many fit configurations as one Optuna study, and compare them.

A sweep file is a fit config (the very keys of fit's YAML, checked by fit's parser) with a ``sweep:`` section
(``SweepSettings``). Each trial is an ordinary fit run in its own folder, ``FOLDER/STUDY/trial_N/version_0``,
started as its own process; the study lives in a database (SQLite in the sweep's folder by default), so the same
command started on several machines shares the work. A worker killed mid-trial loses nothing: started again, it
finds the trial's run without a live owner and continues it from its recovery checkpoint.
"""

if __name__ == "__main__":  # before the imports below, which take seconds: a signal at any moment ends cleanly
    from lit_rnn import interrupts

    interrupts.install()

import contextlib  # noqa: E402
import fcntl  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from argparse import ArgumentError  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Literal  # noqa: E402

import optuna  # noqa: E402
import yaml  # noqa: E402
from jsonargparse import Namespace  # noqa: E402
from lightning.pytorch.cli import LightningArgumentParser  # noqa: E402
from optuna.storages import RetryHeartbeatStaleTrialCallback  # noqa: E402
from optuna.trial import FrozenTrial, TrialState  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from lit_rnn import child_errors, interrupts, runs, search_space  # noqa: E402
from lit_rnn.cli import LitRNNCLI, check_run_settings  # noqa: E402
from lit_rnn.errors import ConfigError, UserError, exits_cleanly_on_user_error, summarize, summarize_parse_error  # noqa: E402
from lit_rnn.model import MNISTClassifier  # noqa: E402
from lit_rnn.quick_exit import run_then_exit  # noqa: E402
from lit_rnn.sweep_report import report, trial_line, with_settings  # noqa: E402
from lit_rnn.trial_reporting import PRUNED_EXIT_CODE, PrunerName, ReportToStudy, make_pruner  # noqa: E402

OBJECTIVES = (*MNISTClassifier.MONITORABLE, "test/acc", "test/loss")


class SweepSettings:
    """What a sweep searches, how, and where its study lives.

    Args:
        space: Fit's dotted keys, each with a list of choices, a float range ``{low, high, log}`` or an int range
            ``{low, high, step}``.
        objective: The logged metric each trial is judged by (its last value): ``val/acc_best``, ``test/acc``, ...
        direction: Whether the objective is to be maximized or minimized.
        trials: How many trials the study runs in all, over every worker; a grid runs each combination once.
        sampler: ``grid`` (every combination of choices), ``random``, or ``tpe`` (Optuna's TPE).
        seed: The sampler's seed.
        pruner: ``median`` or ``hyperband``: stops trials clearly behind the others at the same step; null: none.
        study_name: The study, and the name of its folder.
        storage: Optuna's storage URL (``postgresql://...``, ``mysql://...``, ``sqlite:///...``); by default a SQLite
            file in the sweep's folder.
        folder: The folder of the sweeps' folders.
        heartbeat_seconds: How often a running trial tells the storage it is alive; a trial silent for four times
            as long is failed and tried again by another worker.
    """

    def __init__(
        self,
        space: dict[str, Any] | None = None,
        objective: str = "val/acc_best",
        direction: Literal["maximize", "minimize"] = "maximize",
        trials: int | None = None,
        sampler: Literal["grid", "random", "tpe"] = "tpe",
        seed: int = 0,
        pruner: PrunerName = "median",
        study_name: str = "sweep",
        storage: str | None = None,
        folder: str = "sweeps",
        heartbeat_seconds: int = 60,
    ) -> None:
        self.dimensions = search_space.parse_space(space or {})
        self.grid = search_space.grid(self.dimensions) if sampler == "grid" else None
        if self.grid is None and (trials is None or trials < 1):
            raise ConfigError(f"--sweep.trials is {trials!r}, but a {sampler} search needs a number of trials, 1 or more.")
        if trials is not None and trials < 1:
            raise ConfigError(f"--sweep.trials is {trials!r}, but it must be 1 or more.")
        if not re.fullmatch(r"[\w.-]+", study_name):
            raise ConfigError(f"--sweep.study_name is {study_name!r}: use letters, digits, '.', '-' and '_' (it names a folder).")
        if objective not in OBJECTIVES:
            raise ConfigError(f"--sweep.objective is {objective!r}, but it must be a metric every run logs: "
                              f"{', '.join(OBJECTIVES)}.")
        if heartbeat_seconds < 1:
            raise ConfigError(f"--sweep.heartbeat_seconds is {heartbeat_seconds!r}, but it must be 1 or more.")
        self.space, self.objective, self.direction, self.sampler_name = space, objective, direction, sampler
        self.trials = math.prod(len(choices) for choices in self.grid.values()) if self.grid else trials
        self.seed, self.pruner_name, self.study_name, self.heartbeat_seconds = seed, pruner, study_name, heartbeat_seconds
        self.folder = Path(folder) / study_name
        if storage is None:  # the default: a SQLite file in the sweep's folder
            self.folder.mkdir(parents=True, exist_ok=True)
        self.storage = storage or f"sqlite:///{self.folder / 'study.db'}"

    def sampler(self) -> optuna.samplers.BaseSampler:
        if self.grid is not None:
            return optuna.samplers.GridSampler(self.grid, seed=self.seed)
        if self.sampler_name == "random":
            return optuna.samplers.RandomSampler(seed=self.seed)
        return optuna.samplers.TPESampler(seed=self.seed)

    def pruner(self) -> optuna.pruners.BasePruner:
        return make_pruner(self.pruner_name)


class SweepCLI(LitRNNCLI):
    """Fit's command line plus a ``sweep`` section; parses and checks, and builds nothing: trials build their own."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        super().add_arguments_to_parser(parser)
        parser.add_class_arguments(SweepSettings, "sweep", instantiate=False)

    def before_instantiate_classes(self) -> None:
        pass

    def instantiate_classes(self) -> None:
        pass


class Sweep:
    """One worker of a sweep: checks the space, opens the study, and runs trials until the study has enough."""

    def __init__(self, cli: SweepCLI, settings: SweepSettings) -> None:
        self.cli, self.settings = cli, settings
        self.base = fit_config(cli.parser, cli.config)

    def check(self) -> None:
        """Refuse, before any trial runs, a key that fit does not have and a value that fit refuses."""
        for setting in search_space.corners(self.settings.dimensions):
            ((key, value),) = setting.items()
            try:
                config = self.cli.parser.parse_object(self._with(setting))
                check_run_settings(config)
                with warnings.catch_warnings():  # jsonargparse renames the method in its versions after ours
                    warnings.simplefilter("ignore", DeprecationWarning)
                    self.cli.parser.instantiate_classes(config)
            except (ArgumentError, ConfigError) as error:
                reason = summarize_parse_error(error.message) if isinstance(error, ArgumentError) else str(error)
                raise ConfigError(f"--sweep.space's {key} = {value!r} is refused by fit: {reason}") from None

    def _with(self, setting: dict[str, Any]) -> dict[str, Any]:
        """The base fit config with ``setting`` put in, and the sweep section: the whole sweep file, as data."""
        return {**with_settings(self.base, setting), "sweep": self.cli.config.sweep.as_dict()}

    def open_study(self) -> optuna.Study:
        settings = self.settings
        storage = open_storage(settings.storage, settings.heartbeat_seconds)
        try:
            study = optuna.create_study(study_name=settings.study_name, storage=storage, sampler=settings.sampler(),
                                        pruner=settings.pruner(), direction=settings.direction, load_if_exists=True)
        except Exception as error:  # a database that refuses the connection, the credentials or the schema
            raise ConfigError(f"--sweep.storage {settings.storage} cannot hold the study: {summarize(error)}. Check the "
                              "URL, that the server runs and the user may create tables there.") from None
        space = json.dumps(settings.space, sort_keys=True)
        if study.user_attrs.get("space", space) != space or study.direction.name.lower() != settings.direction:
            raise ConfigError(f"The study {settings.study_name} in {settings.storage} was started with another search "
                              f"space or direction ({study.user_attrs['space']}): give a new --sweep.study_name.")
        if "space" not in study.user_attrs:
            study.set_user_attr("space", space)
        settings.folder.mkdir(parents=True, exist_ok=True)
        (settings.folder / "base.yaml").write_text(yaml.safe_dump(self.base, sort_keys=False))
        return study

    def continue_interrupted(self, study: optuna.Study) -> None:
        """Fail the running trials whose run has no live owner (a killed worker), so that Optuna tries them again."""
        retry = RetryHeartbeatStaleTrialCallback(max_retry=3)
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            run = self.run_folder(trial)
            if run.exists() and not runs.in_use(run):  # a folder without one: a live worker may be starting its fit
                retry(study, study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True))

    def run_folder(self, trial: FrozenTrial) -> Path:
        """The run of a trial; a retried trial goes on in the run of the trial it retries."""
        first = RetryHeartbeatStaleTrialCallback.retried_trial_number(trial)  # a retry of a retry names the first
        return self.settings.folder / f"trial_{trial.number if first is None else first}" / f"{runs.RUN_PREFIX}0"

    def run_trials(self, study: optuna.Study) -> None:
        """Run trials, one ``optimize`` call each (so Optuna keeps their heartbeats), while the study wants more."""
        while self._retries_waiting(study) or self._trials_begun(study) < self.settings.trials:
            study.optimize(self.run_trial, n_trials=1, catch=(TrialFailed,),
                           callbacks=[lambda study, trial: print(trial_line(study, trial, self.settings.objective), flush=True)])

    def _trials_begun(self, study: optuna.Study) -> int:
        """The trials begun, a retry counting as the trial it retries."""
        return sum("failed_trial" not in trial.system_attrs for trial in study.get_trials(deepcopy=False))

    def _retries_waiting(self, study: optuna.Study) -> bool:
        return bool(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))

    def run_trial(self, trial: optuna.trial.Trial) -> float:
        """Run the trial's fit as its own process; its objective, or ``TrialPruned`` / ``TrialFailed``."""
        values = search_space.suggest(trial, self.settings.dimensions)
        run = self.run_folder(trial.study.get_trials(deepcopy=False)[trial.number])
        resume = ["--ckpt_path=last"] if run.exists() and runs.newest_valid_checkpoint(run) else []
        command = [
            sys.executable, "-m", "lit_rnn.fit", f"--config={self.settings.folder / 'base.yaml'}",
            *[f"--{key}={as_argument(value)}" for key, value in values.items()],
            f"--trainer.logger.init_args.save_dir={self.settings.folder}", f"--trainer.logger.init_args.name={run.parent.name}",
            "--trainer.enable_progress_bar=false",
            f"--trainer.callbacks+={ReportToStudy.__module__}.{ReportToStudy.__name__}",
            f"--trainer.callbacks.storage={self.settings.storage}", f"--trainer.callbacks.study_name={trial.study.study_name}",
            f"--trainer.callbacks.trial_id={trial._trial_id}",  # how Optuna's storages name a trial; no public accessor f"--trainer.callbacks.objective={self.settings.objective}",
            f"--trainer.callbacks.pruner={as_argument(self.settings.pruner_name)}",
            *resume,
        ]
        run.parent.mkdir(parents=True, exist_ok=True)
        finished, error = run_fit(command, run)
        if finished.returncode == PRUNED_EXIT_CODE:
            raise optuna.TrialPruned()
        if finished.returncode != 0:
            reason = (str(error) if isinstance(error, UserError) else summarize(error)) if error else \
                f"fit exited with {finished.returncode}"
            trial.set_user_attr("error", reason)
            raise TrialFailed(reason)
        metrics = last_scalars(run)
        took = re.search(r"Training took ([0-9.]+) s", finished.stdout)
        trial.set_user_attr("test/acc", metrics.get("test/acc"))
        trial.set_user_attr("train_seconds", float(took.group(1)) if took else None)
        trial.set_user_attr("run", str(run))
        if self.settings.objective not in metrics:
            trial.set_user_attr("error", f"the run logged no {self.settings.objective}")
            raise TrialFailed(trial.user_attrs["error"])
        return metrics[self.settings.objective]


def as_argument(value: Any) -> str:
    """A value as fit's command line takes it: strings as they are, anything else as JSON (null, true, 0.01)."""
    return value if isinstance(value, str) else json.dumps(value)


def run_fit(command: list[str], run: Path) -> tuple[subprocess.CompletedProcess, Exception | None]:
    """Run a trial's fit, its messages going to ``fit.log`` beside its run; a SIGTERM or Ctrl-C that the worker gets
    meanwhile is passed on to the fit, which saves its step and stops, and then stops the worker too. Returns the
    finished process and the error it ended with, if any (``child_errors``).

    The trial stays running in the study: the worker that next finds its run without a live owner continues it.
    """
    interrupts.defer()
    errors = child_errors.records_folder()
    with open(run.parent / "fit.log", "a") as log, subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=log, text=True, env=child_errors.environment(errors)
    ) as fit:
        passed_on = None
        while True:
            try:
                stdout, _ = fit.communicate(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if interrupts.requested() and passed_on is None:
                    passed_on = interrupts.requested()
                    fit.send_signal(passed_on)
        log.write(stdout)
    signum = interrupts.requested()
    interrupts.set_phase("between trials: every finished trial is in the study. Start the same command again to "
                         "go on with the sweep.")
    if signum is not None:
        interrupts.stop(signum, f"during a trial; its run, {run}, is saved as far as its fit got. Start the same "
                                "command again: the trial goes on from there.")
    return subprocess.CompletedProcess(command, fit.returncode, stdout), child_errors.recorded(errors, fit.pid)


class TrialFailed(Exception):
    """A trial's fit ended with an error; the sweep goes on."""


def open_storage(url: str, heartbeat_seconds: int, attempts: int = 5) -> optuna.storages.BaseStorage:
    """Optuna's storage at ``url``, with heartbeats so that a trial whose worker died is failed and tried again.

    Workers that start together race to create the database's tables, and all but one can fail on the way: a
    failure is tried again after a second, and only the last one is an error. SQLite, which lets one process write
    at a time, takes the workers in turn and has them wait for each other's writes.
    """
    sqlite, attempt = url.startswith("sqlite:///"), 1
    while True:
        try:
            with open_lock(Path(url.removeprefix("sqlite:///") + ".lock")) if sqlite else contextlib.nullcontext():
                return optuna.storages.RDBStorage(
                    url, engine_kwargs={"connect_args": {"timeout": 60}} if sqlite else None,
                    heartbeat_interval=heartbeat_seconds, grace_period=4 * heartbeat_seconds,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=3),
                )
        except Exception as error:  # a malformed URL, a missing driver, a server that cannot be reached, a race
            if attempt == attempts or isinstance(error, (ImportError, ValueError)):
                raise ConfigError(f"--sweep.storage {url} cannot be opened: {summarize(error)}. Give an Optuna storage "
                                  "URL such as sqlite:///study.db or postgresql+psycopg://user:password@host/database, "
                                  "of a server that runs.") from None
            attempt += 1
            time.sleep(1)


@contextlib.contextmanager
def open_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if need be) while the block runs."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def fit_config(parser: LightningArgumentParser, config: Namespace) -> dict[str, Any]:
    """The fit part of a parsed sweep config, as plain YAML data: what ``python -m lit_rnn.fit --config`` takes."""
    data = yaml.safe_load(parser.dump(config))
    data.pop("sweep", None)
    data["ckpt_path"] = None
    return data


def last_scalars(run: Path) -> dict[str, float]:
    """The last value of each scalar that a run logged."""
    events = EventAccumulator(str(run)).Reload()
    return {tag: events.Scalars(tag)[-1].value for tag in events.Tags()["scalars"]}


@exits_cleanly_on_user_error
def main(args: list[str] | None = None) -> optuna.Study:
    """Run this worker's share of the sweep, then print the study's table; returns the study."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # each trial gets one line of ours instead
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeats and retries
    cli = SweepCLI(args=args)
    settings = SweepSettings(**cli.config.sweep)
    sweep = Sweep(cli, settings)
    sweep.check()
    study = sweep.open_study()
    sweep.continue_interrupted(study)
    sweep.run_trials(study)
    interrupts.set_phase("while writing the study's report: every finished trial is in the study. Start the same "
                         "command again to write the report.")
    report(study, settings.folder, settings.objective, settings.dimensions, sweep.base)
    return study


if __name__ == "__main__":
    run_then_exit(main)
