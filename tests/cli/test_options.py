"""Every option that ``python -m lit_rnn.fit --print_config`` lists, fed boundary values: it trains, or it stops
with exactly one ``error:`` line, and nothing in the working folder changes but a new run folder.

Each case calls ``lit_rnn.fit.main`` in this process (a run takes a fraction of a second here, against several
seconds of interpreter start-up), in its own folder holding tiny MNIST, bounded to two training steps by the base
arguments; the option under test comes last and overrides its base value. Guards keep a bad case from harming the
others: a case that tries to start processes (under pytest they would run pytest) or runs past CASE_SECONDS is
stopped and fails, and the process-wide state a run may change is put back.

Options not tested: ``trainer.callbacks`` and ``trainer.plugins`` (lists of objects, ``null`` in the config: a
number or a word is no object to build) and ``trainer.strategy`` (a name Lightning resolves at start-up: the
values here only exercise its "unknown strategy" path). Every other key is tested, those of ``class_path``
objects (the logger, the profiler, the optimizer) through their ``init_args``.
"""

import contextlib
import io
import multiprocessing.process
import os
import signal
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from helpers.commands import snapshot, tiny_fit_args
from helpers.mnist import make_mnist

from lit_rnn.fit import main

pytestmark = [pytest.mark.slow, pytest.mark.long]  # every option x seven boundary values: make test-long

VALUES = ["0", "-1", str(10**12), "nan", "inf", "abc", ""]
NOT_TESTED = {"trainer.callbacks", "trainer.plugins", "trainer.strategy"}
BASE = [
    "--trainer.max_epochs=1",
    "--trainer.limit_train_batches=2",
    "--trainer.limit_val_batches=1",
    "--trainer.limit_test_batches=1",
    "--trainer.num_sanity_val_steps=0",
    "--recovery.every_n_minutes=0",
    "--data.val_size=20",
]
# Options naming a folder: a run given one writes there, as asked.
FOLDER_OPTIONS = {
    "checkpoint.dirpath",
    "trainer.default_root_dir",
    "trainer.logger.init_args.save_dir",
    "trainer.logger.init_args.name",
    "trainer.profiler.init_args.dirpath",
}
CASE_SECONDS = 30


def listed_options() -> list[str]:
    """The dotted keys of every scalar (or list) in the printed config; a class_path object's through its init_args."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), pytest.raises(SystemExit), pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["lit_rnn.fit"])
        main(["--print_config"])

    def keys(node: Any, prefix: str) -> list[str]:
        if not isinstance(node, dict):
            return [prefix]
        return [key for name, value in node.items() for key in keys(value, f"{prefix}.{name}" if prefix else name)]

    return [key for key in keys(yaml.safe_load(printed.getvalue()), "") if key not in NOT_TESTED]


# Cases not run: legitimate settings whose run would outlast CASE_SECONDS.
NOT_RUN = {("trainer.max_epochs", str(10**12)): "a legitimate run of 10**12 epochs: it trains, for a very long time"}

OPTIONS = listed_options()
CASES = [(option, value) for option in OPTIONS for value in VALUES]


class CaseOverran(BaseException):
    """A case ran past CASE_SECONDS (a BaseException, so that no ``except Exception`` swallows it)."""


class SpawnAttempted(BaseException):
    """A case tried to start a process: under pytest, Lightning's launchers would start pytest again."""


def refuse_to_spawn(*args: Any, **kwargs: Any) -> None:
    raise SpawnAttempted("the case tried to start a process")


class Summary:
    """A pytest plugin that prints the count of cases at the end of the run, outside any test's captured output."""

    def __init__(self) -> None:
        self.counts = {"ran": 0, "trained": 0, "refused": 0}

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        counts = self.counts
        terminalreporter.write_line(
            f"test_options: {len(OPTIONS)} options x {len(VALUES)} values = {len(CASES)} cases ({len(NOT_RUN)} not "
            f"run); {counts['ran']} ran here: {counts['trained']} trained, "
            f"{counts['refused']} stopped with an error line"
        )


@pytest.fixture(scope="module")
def tally(request) -> dict[str, int]:
    """The outcome counts, printed at the end of the session."""
    summary = Summary()
    request.config.pluginmanager.register(summary, "test_options_summary")
    return summary.counts


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Path:
    """An empty folder holding tiny MNIST, made current, with every process-wide thing a run may change put back."""
    make_mnist(tmp_path / "data", train_count=120, test_count=20)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lit_rnn.fit"])
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path.parent))  # crash reports, away from the working folder
    monkeypatch.setattr(subprocess, "Popen", refuse_to_spawn)
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", refuse_to_spawn)
    for variable in ("http_proxy", "https_proxy"):  # a download fails at once instead of waiting on the network
        monkeypatch.setenv(variable, "http://127.0.0.1:9")
    environment, deterministic, dtype = (
        dict(os.environ),
        torch.are_deterministic_algorithms_enabled(),
        torch.get_default_dtype(),
    )
    with warnings.catch_warnings():
        yield tmp_path
    os.environ.clear()
    os.environ.update(environment)
    torch.use_deterministic_algorithms(deterministic)
    torch.set_default_dtype(dtype)


def run_case(option: str, value: str) -> tuple[int, str]:
    """``main`` with the base arguments and ``--option=value``; its exit code and stderr."""

    def overran(signum: int, frame: Any) -> None:
        raise CaseOverran(f"--{option}={value!r} ran for more than {CASE_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, overran)
    signal.alarm(CASE_SECONDS)
    try:
        main(tiny_fit_args(Path("data"), *BASE, f"--{option}={value}"))
        return 0
    except SystemExit as exit:
        return exit.code
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def new_files_are_a_run(before: dict[str, bytes], after: dict[str, bytes], option: str, value: str) -> list[str]:
    """The files that were changed or removed, or added outside a run folder (or the folder the option names)."""
    changed = [name for name in before if after.get(name) != before[name]]
    roots = {"lightning_logs"} | ({Path(value).parts[0]} if option in FOLDER_OPTIONS and Path(value).parts else set())
    # An empty logger name puts the runs straight into the save_dir, ".", as Lightning's loggers do.
    run_folders_here = option == "trainer.logger.init_args.name" and value == ""
    strays = [
        name
        for name in after
        if name not in before
        and Path(name).parts[0] not in roots
        and not (run_folders_here and Path(name).parts[0].startswith("version_"))
    ]
    return changed + strays


@pytest.mark.parametrize("option, value", CASES, ids=[f"{option}={value}" for option, value in CASES])
def test_a_boundary_value_trains_or_is_one_error_line(option, value, workspace, capfd, tally):
    if (option, value) in NOT_RUN:
        pytest.skip(f"not run: {NOT_RUN[option, value]}")
    before = snapshot(workspace)
    code = run_case(option, value)
    err = capfd.readouterr().err
    tally["ran"] += 1
    assert "Traceback" not in err and "this is a bug in lit_rnn" not in err, err[-3000:]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    if code == 0:
        tally["trained"] += 1
        assert errors == []
    else:
        tally["refused"] += 1
        assert code in (1, 2) and len(errors) == 1, (code, err[-3000:])
    assert new_files_are_a_run(before, snapshot(workspace), option, value) == []
