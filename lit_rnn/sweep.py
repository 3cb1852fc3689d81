"""``python -m lit_rnn.sweep``: run many fit configurations as one Optuna study, and compare them.

A sweep file is a fit config (the very keys of fit's YAML, checked by fit's parser) with a ``sweep:`` section
(``SweepSettings``). Each trial is an ordinary fit run in its own folder, ``FOLDER/STUDY/trial_N/version_0``, a
process of its own, forked from a server that imported fit once (``study.fork_server``); the study lives in a
database (SQLite in the sweep's folder by default), so the same command started on several machines shares the work.
A worker killed mid-trial loses nothing: started again, it finds the trial's run without a live owner and continues
it from its recovery checkpoint.
"""

if __name__ == "__main__":  # before the imports below, which take seconds: a signal at any moment ends cleanly
    from lit_rnn.base.command_start import start_command

    start_command()

import json
import math
import warnings
from argparse import ArgumentError
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import optuna
import yaml
from jsonargparse import Namespace
from lightning.pytorch.cli import LightningArgumentParser
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from lit_rnn.base import interrupts
from lit_rnn.base.class_paths import check_called_classes
from lit_rnn.base.errors import ConfigError, exits_cleanly_on_user_error, summarize, summarize_parse_error
from lit_rnn.base.file_locks import locked, try_lock
from lit_rnn.base.quick_exit import run_then_exit
from lit_rnn.cli.lightning_cli import LitRNNCLI, check_run_settings
from lit_rnn.cli.refused_settings import settings_refused_by_lightning
from lit_rnn.logs import time_to_target
from lit_rnn.runs import folders as runs
from lit_rnn.runs import results as run_results
from lit_rnn.runs.resume import runs_root
from lit_rnn.study import search_space
from lit_rnn.study.fork_server import ForkServer
from lit_rnn.study.report import report, trial_line
from lit_rnn.study.reporting import PRUNED_EXIT_CODE
from lit_rnn.study.settings import SweepSettings
from lit_rnn.study.storage import open_storage
from lit_rnn.study.trial_fit import (
    failure,
    fit_arguments,
    fit_server,
    run_arguments,
    run_fit,
    setting_arguments,
    wait_until_unused,
)

REACHED = ("val/acc_best", "test/acc")  # what a trial that missed its target got to instead


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
        self._held: IO[str] | None = None  # the lock of the trial this worker runs
        self.storage: optuna.storages.BaseStorage | None = None  # the study's, once open_study has opened it

    def check(self) -> None:
        """Refuse, before any trial runs, a key that fit does not have and a value that fit refuses.

        Each choice and each end of a range is parsed as the trial's command line gives it, on top of the sweep's
        base config: so a new ``class_path`` drops the arguments the old class had and the new one does not take.
        """
        self._check_logger()
        self._check_objective_logged()
        for setting in search_space.corners(self.settings.dimensions):
            ((key, value),) = setting.items()
            try:
                if key.split(".")[0] == "sweep":  # the one section of this parser that fit's does not have
                    raise ConfigError(
                        f"fit has no --{key}: the sweep's own settings go in its sweep: section, and one value each."
                    )
                config = self.config_with(setting)
                check_called_classes(config)  # before anything is built: the check fit makes
                check_run_settings(config)
                with warnings.catch_warnings(), settings_refused_by_lightning():
                    warnings.simplefilter("ignore", DeprecationWarning)  # jsonargparse renames it after our version
                    self.cli.parser.instantiate_classes(config)
            except (ArgumentError, ConfigError) as error:
                reason = summarize_parse_error(error.message) if isinstance(error, ArgumentError) else str(error)
                raise ConfigError(f"--sweep.space's {key} = {value!r} is refused by fit: {reason}") from None

    def _check_logger(self) -> None:
        """Refuse loggers that do not put a trial's run in its own folder, where fit's ``runs_root`` finds it from the
        sweep's arguments (no logger, MLflow's, a list of loggers: its run would go elsewhere, or nowhere)."""
        run = self.settings.folder / "trial_0" / f"{runs.RUN_PREFIX}0"
        try:
            root = runs_root(self.cli.parser.parse_args(run_arguments(run), namespace=self.cli.config.clone()))
            reason = "" if root == run.parent else f"its run would be in {root}."
        except ArgumentError as error:
            reason = summarize_parse_error(error.message)
        if reason:
            raise ConfigError(
                f"--trainer.logger cannot keep each trial's run in its own folder, {run.parent.parent}/"
                "trial_N, which the sweep sets with --trainer.logger.init_args.save_dir and name: "
                f"{reason} Give one TensorBoard logger (the default) or one CSV logger."
            )

    def _check_objective_logged(self) -> None:
        """Refuse a time-to-target objective without the callback that logs it: every trial would miss it."""
        if self.settings.objective != time_to_target.METRIC:
            return
        callbacks = self.base["trainer"].get("callbacks") or []
        wanted = f"{time_to_target.TimeToTarget.__module__}.{time_to_target.TimeToTarget.__name__}"
        callbacks = [callbacks] if isinstance(callbacks, dict) else callbacks
        if wanted not in (callback.get("class_path") for callback in callbacks if isinstance(callback, dict)):
            raise ConfigError(
                f"--sweep.objective is {time_to_target.METRIC}, which only a run with a TimeToTarget callback logs, "
                f"and the sweep's config has none. Add it under trainer.callbacks (class_path: {wanted}, init_args: "
                "target: 0.99), as configs/sweeps/fastest99.yaml does."
            )

    def config_with(self, values: Mapping[str, Any]) -> Namespace:
        """The sweep's config with ``values`` set as a trial's command line sets them on its base config."""
        return self.cli.parser.parse_args(setting_arguments(values), namespace=self.cli.config.clone())

    def best_config(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The whole fit config of the trial with ``values``: what the best trial's ``best.yaml`` holds."""
        return fit_config(self.cli.parser, self.config_with(values))

    def open_study(self) -> optuna.Study:
        settings = self.settings
        storage = self.storage = open_storage(settings.storage, settings.heartbeat_seconds)
        try:
            study = optuna.create_study(
                study_name=settings.study_name,
                storage=storage,
                sampler=settings.sampler(),
                pruner=settings.pruner(),
                direction=settings.direction,
                load_if_exists=True,
            )
        except Exception as error:  # a database that refuses the connection, the credentials or the schema
            raise ConfigError(
                f"--sweep.storage {settings.storage} cannot hold the study: {summarize(error)}. Check the "
                "URL, that the server runs and the user may create tables there."
            ) from None
        self.check_same_question(study)
        settings.make_folder()
        (settings.folder / "base.yaml").write_text(yaml.safe_dump(self.base, sort_keys=False))
        return study

    def check_same_question(self, study: optuna.Study) -> None:
        """Refuse a study that was started with another space, objective or direction: its trials would not compare.

        The study keeps its space and objective as user attributes (a study that has none yet takes this sweep's).
        """
        settings = self.settings
        asked = {
            "space": json.dumps(settings.space, sort_keys=True),
            "objective": settings.objective,
            "direction": settings.direction,
        }
        started = {
            "space": study.user_attrs.get("space", asked["space"]),
            "objective": study.user_attrs.get("objective", asked["objective"]),
            "direction": study.direction.name.lower(),
        }
        differ = [key for key in asked if started[key] != asked[key]]
        if differ:
            raise ConfigError(
                f"The study {settings.study_name} in {settings.storage} was started with another "
                f"{' and '.join(differ)} ({'; '.join(f'{key} {started[key]}' for key in differ)}): its "
                "trials would not compare with these. Give a new --sweep.study_name, or the study's own "
                f"{' and '.join(differ)}."
            )
        for key in ("space", "objective"):
            if key not in study.user_attrs:
                study.set_user_attr(key, asked[key])

    def continue_interrupted(self, study: optuna.Study) -> None:
        """Fail the running trials that no live worker runs (a worker killed, or stopped with its trial's fit), so that
        Optuna tries them again, in their runs.

        A worker holds its trial's lock (``trial_lock``) from the trial's start until the study has its result, and the
        lock dies with it. A trial without a lock file, from an older lit_rnn or a worker on another machine, is taken
        for interrupted only when its run is here and has no live owner.

        Workers that start together take turns here, and each trial is failed through the storage, as Optuna's own
        ``fail_stale_trials`` fails a trial whose heartbeat stopped: whichever worker fails it first adds its retry, the
        others find it finished; and no sampler is told of it outside ``optimize`` (``study.tell`` would have the grid
        sampler stop the study there, which only ``optimize`` may).
        """
        self.workers_folder.mkdir(exist_ok=True)
        with locked(self.workers_folder / "recovery.lock"):
            for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                if self._interrupted(trial):
                    self._fail_and_retry(study, trial.number)

    def _fail_and_retry(self, study: optuna.Study, number: int) -> None:
        """Fail trial ``number`` and queue its retry (the storage's own retry callback, ``open_storage``'s), unless
        another worker failed it first."""
        storage = self.storage
        trial_id = storage.get_trial_id_from_study_id_trial_number(
            storage.get_study_id_from_name(study.study_name), number
        )
        try:
            if not storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                return
        except optuna.exceptions.UpdateFinishedTrialError:  # a worker elsewhere failed it first
            return
        storage.get_heartbeat_stale_trial_callback()(study, storage.get_trial(trial_id))

    def _interrupted(self, trial: FrozenTrial) -> bool:
        """Whether the running ``trial`` has no live worker (see ``continue_interrupted``)."""
        run, lock = self.run_folder(trial), self.trial_lock(trial.number)
        if lock.exists():
            held = try_lock(lock, shared=True, create=False)
            if held is None:
                return False  # its worker is running it
            held.close()
            wait_until_unused(run)  # its fit, if any, dies with its worker
        elif not run.exists():
            return False  # a live worker may be starting its fit
        return not runs.in_use(run)

    @property
    def workers_folder(self) -> Path:
        """Where the workers' locks are."""
        return self.settings.folder / "workers"

    def trial_lock(self, number: int) -> Path:
        """The file whose lock the worker running trial ``number`` holds."""
        return self.workers_folder / f"trial_{number}.lock"

    def hold_trial(self, number: int | None) -> None:
        """Hold trial ``number``'s lock (None: none), giving back the one held before."""
        if self._held is not None:
            self._held.close()
        self._held = None
        if number is not None:
            self.workers_folder.mkdir(exist_ok=True)
            self._held = try_lock(self.trial_lock(number))

    def run_folder(self, trial: FrozenTrial) -> Path:
        """The run of a trial; a retried trial goes on in the run of the trial it retries."""
        first = RetryHeartbeatStaleTrialCallback.retried_trial_number(trial)  # a retry of a retry names the first
        return self.settings.folder / f"trial_{trial.number if first is None else first}" / f"{runs.RUN_PREFIX}0"

    def run_trials(self, study: optuna.Study) -> None:
        """Run trials, one ``optimize`` call each (so Optuna keeps their heartbeats), while the study wants more."""
        with fit_server() as fits:
            while self._retries_waiting(study) or self._trials_begun(study) < self.settings.trials:
                study.optimize(
                    lambda trial: self.run_trial(trial, fits),
                    n_trials=1,
                    catch=(TrialFailed,),
                    callbacks=[self.trial_ended],
                )

    def trial_ended(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """The study holds the trial's result: its line, and its lock given back."""
        print(trial_line(study, trial, self.settings.objective), flush=True)
        self.hold_trial(None)

    def _trials_begun(self, study: optuna.Study) -> int:
        """The trials begun, a retry counting as the trial it retries."""
        trials = study.get_trials(deepcopy=False)
        return sum(RetryHeartbeatStaleTrialCallback.retried_trial_number(trial) is None for trial in trials)

    def _retries_waiting(self, study: optuna.Study) -> bool:
        return bool(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))

    def run_trial(self, trial: optuna.trial.Trial, fits: ForkServer) -> float:
        """Run the trial's fit as its own process, forked by ``fits``; its objective, or ``TrialPruned`` /
        ``TrialFailed``."""
        self.hold_trial(trial.number)
        arguments, run = self.trial_arguments(trial)
        run.parent.mkdir(parents=True, exist_ok=True)
        exit_code, error = run_fit(fits, arguments, run, trial.number)
        if exit_code == PRUNED_EXIT_CODE:
            raise optuna.TrialPruned()
        if exit_code != 0:
            trial.set_user_attr("error", failure(exit_code, error))
            raise TrialFailed(trial.user_attrs["error"])
        results = run_results.read(run) or {"metrics": {}}
        trial.set_user_attr("test/acc", results["metrics"].get("test/acc"))
        trial.set_user_attr("train_seconds", results.get("train_seconds"))
        trial.set_user_attr("run", str(run))
        target_reached = math.isfinite(results["metrics"].get(time_to_target.METRIC, math.inf))  # infinity until then
        if self.settings.objective == time_to_target.METRIC and not target_reached:
            reached = ", ".join(
                f"{name} {results['metrics'][name]:.4f}" for name in REACHED if name in results["metrics"]
            )
            trial.set_user_attr("error", f"stopped before reaching the target validation accuracy ({reached})")
            raise optuna.TrialPruned()  # not a failure: a result, and TPE learns from it as from a pruned trial
        if self.settings.objective not in results["metrics"]:
            trial.set_user_attr("error", f"the run logged no {self.settings.objective}")
            raise TrialFailed(trial.user_attrs["error"])
        return results["metrics"][self.settings.objective]

    def trial_arguments(self, trial: optuna.trial.Trial) -> tuple[list[str], Path]:
        """The trial's fit arguments, with its settings drawn by the sampler, and its run folder."""
        values = search_space.suggest(trial, self.settings.dimensions)
        run = self.run_folder(trial.study.get_trials(deepcopy=False)[trial.number])
        report = {
            "storage": self.settings.storage,
            "study_name": trial.study.study_name,
            "trial_number": trial.number,
            "objective": self.settings.objective,
            "pruner": self.settings.pruner_name,
        }
        resume = run.exists() and runs.newest_valid_checkpoint(run) is not None
        return fit_arguments(self.settings.folder / "base.yaml", values, run, report, resume), run


class TrialFailed(Exception):
    """A trial's fit ended with an error; the sweep goes on."""


def fit_config(parser: LightningArgumentParser, config: Namespace) -> dict[str, Any]:
    """The fit part of a parsed sweep config, as plain YAML data: what ``python -m lit_rnn.fit --config`` takes."""
    data = yaml.safe_load(parser.dump(config))
    data.pop("sweep", None)
    data["ckpt_path"] = None
    return data


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
    interrupts.set_phase(
        "while writing the study's report: every finished trial is in the study. Start the same "
        "command again to write the report."
    )
    report(study, settings.folder, settings.objective, settings.dimensions, sweep.best_config)
    return study


if __name__ == "__main__":
    run_then_exit(main)
