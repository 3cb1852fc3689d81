"""A child process's error, carried to the command that started it (``lit_rnn.base.child_errors``), and said once."""

import os
import subprocess
import sys
import threading

import lightning as L
from helpers.commands import REPO

from lit_rnn.base import child_errors, errors
from lit_rnn.base.errors import ConfigError
from lit_rnn.base.private_apis import _CarryingScriptLauncher, carry_child_errors, spawns_processes

CHILD = """
from lit_rnn.base import child_errors
from lit_rnn.base.errors import ConfigError
{raise_it}
"""


def child_that_records(folder, raise_it: str) -> subprocess.Popen:
    """A process that leaves the error of ``raise_it`` in ``folder``, as a command's child does."""
    code = CHILD.format(raise_it=raise_it)
    return subprocess.Popen(
        [sys.executable, "-c", code], env={**child_errors.environment(folder), "PYTHONPATH": str(REPO)}
    )


def test_a_childs_error_comes_back_as_itself_with_its_traceback_as_its_cause(tmp_path):
    child = child_that_records(
        tmp_path,
        "try:\n    raise ConfigError('The MNIST file x is truncated.')\n"
        "except ConfigError as error:\n    assert child_errors.record(error)",
    )
    child.wait()
    error = child_errors.recorded(tmp_path, child.pid)
    assert type(error) is ConfigError and str(error) == "The MNIST file x is truncated."
    assert isinstance(error.__cause__, child_errors.ChildTraceback) and "Traceback" in str(error.__cause__)
    assert child_errors.recorded(tmp_path, child.pid) is None  # taken up once
    assert list(tmp_path.iterdir()) == []


def test_an_error_that_does_not_pickle_comes_back_as_its_traceback(tmp_path):
    child = child_that_records(
        tmp_path,
        "class Odd(Exception):\n    def __init__(self, a, b):\n        super().__init__(a)\n"
        "try:\n    raise Odd('two arguments', 2)\nexcept Odd as error:\n"
        "    child_errors.record(error)",
    )
    child.wait()
    error = child_errors.recorded(tmp_path, child.pid)
    assert isinstance(error, child_errors.ChildTraceback)
    assert str(error).strip().endswith("Odd: two arguments")


def test_a_process_no_command_started_records_nothing(monkeypatch):
    monkeypatch.delenv(child_errors.RECORDS, raising=False)
    assert not child_errors.record(ConfigError("x"))


def test_a_further_process_of_a_distributed_run_leaves_the_saying_to_the_first(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(child_errors.RECORDS, str(tmp_path))
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert errors.report(ConfigError("The MNIST file x is truncated.")) == 1
    assert capsys.readouterr().err == ""
    assert type(child_errors.recorded(tmp_path, os.getpid())) is ConfigError


def test_the_first_process_says_the_error_of_a_child_that_failed_before_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(child_errors, "_watched", [tmp_path])
    child = child_that_records(tmp_path, "child_errors.record(ConfigError('The MNIST file x is truncated.'))")
    child.wait()
    assert errors.report(RuntimeError("Connection reset by peer")) == 2
    assert capsys.readouterr().err == "error: The MNIST file x is truncated.\n"


def test_a_childs_error_is_not_said_after_this_process_said_its_own(monkeypatch, capsys):
    monkeypatch.setattr(errors, "_said", threading.Event())
    assert errors.report_for_child(ConfigError("first")) == 2
    errors._saying.release()  # the caller would have ended the process
    errors.report(ConfigError("second"))
    assert errors.report_for_child(ConfigError("third")) is None
    assert capsys.readouterr().err.splitlines() == ["error: first", "error: second"]


def test_ddp_carries_its_childrens_errors_and_spawning_strategies_are_known_as_such():
    trainer = L.Trainer(strategy="ddp", devices=2, accelerator="cpu", logger=False)
    carry_child_errors(trainer)
    assert type(trainer.strategy.launcher) is _CarryingScriptLauncher and not spawns_processes(trainer)
    for strategy in ("ddp_spawn", "ddp_fork", "ddp_notebook"):
        assert spawns_processes(L.Trainer(strategy=strategy, devices=2, accelerator="cpu", logger=False))
