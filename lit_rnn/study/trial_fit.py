"""A trial's fit: the command line that makes an ordinary ``python -m lit_rnn.fit`` a trial of the study, and its
process, forked from the worker's fork server, whose messages go to ``fit.log`` beside its run and which a signal to
the worker reaches too."""

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lit_rnn.base import child_errors, interrupts
from lit_rnn.base.errors import UserError, summarize
from lit_rnn.study.fork_server import ForkServer
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


def run_fit(fits: ForkServer, arguments: list[str], run: Path) -> tuple[int, Exception | None]:
    """Run a trial's fit, ``python -m lit_rnn.fit *arguments`` forked by ``fits``, its messages going to ``fit.log``
    beside its run; a SIGTERM or Ctrl-C that the worker gets meanwhile is passed on to the fit, which saves its step
    and stops, and then stops the worker too. Its exit code, and the error it ended with, if any, as the fit left it
    (``child_errors``): not its printed text.

    The trial stays running in the study: the worker that next finds its run without a live owner continues it.
    """
    interrupts.defer()
    errors = child_errors.records_folder()
    with (
        open(run.parent / LOG_NAME, "a") as log,
        fits.start(FIT_MODULE, arguments, child_errors.environment(errors), log) as fit,
    ):
        passed_on = None
        while True:
            try:
                fit.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if interrupts.requested() and passed_on is None:
                    passed_on = interrupts.requested()
                    fit.send_signal(passed_on)
    signum = interrupts.requested()
    interrupts.set_phase(
        "between trials: every finished trial is in the study. Start the same command again to go on with the sweep."
    )
    if signum is not None:
        interrupts.stop(
            signum,
            f"during a trial; its run, {run}, is saved as far as its fit got. Start the same "
            "command again: the trial goes on from there.",
        )
    return fit.returncode, child_errors.recorded(errors, fit.pid)


def failure(exit_code: int, error: Exception | None) -> str:
    """Why a trial's fit failed, in one sentence: the user's error as fit said it, a bug by its type and message."""
    if error is None:
        return f"fit exited with {exit_code}"
    return str(error) if isinstance(error, UserError) else summarize(error)
