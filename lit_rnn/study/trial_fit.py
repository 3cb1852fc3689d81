"""A trial's fit: the command line that makes an ordinary ``python -m lit_rnn.fit`` a trial of the study, and its
process, forked from the worker's fork server, whose messages go to ``fit.log`` beside its run and which a signal to
the worker reaches too."""

import json
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from lit_rnn.base import child_errors, interrupts
from lit_rnn.base.errors import UserError, summarize
from lit_rnn.runs import folders as runs
from lit_rnn.study.fork_server import ForkServer, ServerGone
from lit_rnn.study.reporting import ReportToStudy

LOG_NAME = "fit.log"
FIT_MODULE = "lit_rnn.fit"


def fit_server() -> ForkServer:
    """The server that forks the trials' fits: it imports fit once, and what each trial's config makes fit import,
    the report to the study (Optuna)."""
    return ForkServer([FIT_MODULE, ReportToStudy.__module__])


def fit_arguments(
    base_config: Path, values: Mapping[str, Any], run: Path, report: Mapping[str, Any], resume: bool
) -> list[str]:
    """The trial's fit's arguments: the sweep's base config with the trial's ``values``, logging into ``run``, and
    reporting to the study through ``ReportToStudy`` (``report`` holds its arguments, by name); ``resume`` goes on
    from the run's newest checkpoint."""
    return [
        f"--config={base_config}",
        *setting_arguments(values),
        *run_arguments(run),
        f"--trainer.callbacks+={ReportToStudy.__module__}.{ReportToStudy.__name__}",
        *[f"--trainer.callbacks.{name}={as_argument(value)}" for name, value in report.items()],
        *(["--ckpt_path=last"] if resume else []),
    ]


def run_arguments(run: Path) -> list[str]:
    """Fit's arguments that put the trial's run in ``run`` (``FOLDER/trial_N/version_0``), quietly: through the
    logger's ``save_dir`` and ``name``, which TensorBoard's and CSV's loggers take."""
    return [
        f"--trainer.logger.init_args.save_dir={run.parent.parent}",
        f"--trainer.logger.init_args.name={run.parent.name}",
        "--trainer.enable_progress_bar=false",
    ]


def setting_arguments(values: Mapping[str, Any]) -> list[str]:
    """Fit's command-line arguments that set each dotted key of ``values``."""
    return [f"--{key}={as_argument(value)}" for key, value in values.items()]


def as_argument(value: Any) -> str:
    """A value as fit's command line takes it: strings as they are, anything else as JSON (null, true, 0.01)."""
    return value if isinstance(value, str) else json.dumps(value)


def run_fit(fits: ForkServer, arguments: list[str], run: Path, trial: int) -> tuple[int, Exception | None]:
    """Run trial number ``trial``'s fit, ``python -m lit_rnn.fit *arguments`` forked by ``fits``, its messages going
    to ``fit.log`` beside its run; a SIGTERM or Ctrl-C that the worker gets meanwhile is passed on to the fit, once,
    which saves its step and stops, and then stops the worker too. Its exit code, and the error it ended with, if any,
    as the fit left it (``child_errors``): not its printed text.

    A fit stopped otherwise (a signal sent to it alone, its fork server killed) stops the worker as well, saying so:
    the trial stays running in the study, and the worker that next finds it without a live worker (the same command
    again) continues it from its run's newest checkpoint.
    """
    interrupts.defer()
    errors = child_errors.records_folder()
    passed_on = None
    try:
        with (
            open(run.parent / LOG_NAME, "a") as log,
            fits.start(FIT_MODULE, arguments, child_errors.environment(errors), log) as fit,
        ):
            while True:
                try:
                    fit.wait(timeout=0.2)
                    break
                except subprocess.TimeoutExpired:
                    if interrupts.requested() and passed_on is None:
                        passed_on = interrupts.requested()
                        fit.send_signal(passed_on)
    except ServerGone:
        fits.close()
        wait_until_unused(run)  # the fit dies with its server
        _stop_worker(1, f"The fork server of trial {trial}'s fit ended (killed?), and the fit with it: {_saved(run)}")
    signum = interrupts.requested()
    interrupts.set_phase(
        "between trials: every finished trial is in the study. Start the same command again to go on with the sweep."
    )
    if signum is not None:
        interrupts.stop(signum, f"during a trial; {_saved(run)}")
    stopped_by = stopping_signal(fit.returncode)
    if stopped_by is not None:
        _stop_worker(
            128 + stopped_by,
            f"Trial {trial}'s fit was stopped by {signal.Signals(stopped_by).name}, sent to it alone: {_saved(run)}",
        )
    return fit.returncode, child_errors.recorded(errors, fit.pid)


STOPPING_SIGNALS = (*interrupts.HANDLED, signal.SIGHUP, signal.SIGKILL)
"""Signals that stop a process on request (a user, a scheduler, the kernel out of memory): a fit they end is not a
failed trial but an interrupted one. A fit that crashes (SIGSEGV, SIGABRT) failed."""


def stopping_signal(exit_code: int) -> int | None:
    """The signal that stopped the fit: its exit code is 128 plus the number where its own handler stopped it (SIGINT,
    SIGTERM), minus the number where the signal killed it."""
    for signum in STOPPING_SIGNALS:
        if exit_code == -signum or (signum in interrupts.HANDLED and exit_code == 128 + signum):
            return signum
    return None


def _saved(run: Path) -> str:
    return (
        f"its run, {run}, is saved as far as its fit got. Start the same command again: the trial goes on from there."
    )


def _stop_worker(exit_code: int, message: str) -> NoReturn:
    """End the worker with one line, leaving its trial running in the study: a ``SystemExit``, which Optuna does not
    take for the trial's failure."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(exit_code)


def wait_until_unused(run: Path, seconds: float = 60) -> None:
    """Wait while a process that is ending (a fit whose worker or server died) still holds ``run``."""
    deadline = time.monotonic() + seconds
    while runs.in_use(run) and time.monotonic() < deadline:
        time.sleep(0.05)


def failure(exit_code: int, error: Exception | None) -> str:
    """Why a trial's fit failed, in one sentence: the user's error as fit said it, a bug by its type and message."""
    if error is None:
        return f"fit exited with {exit_code}"
    return str(error) if isinstance(error, UserError) else summarize(error)
