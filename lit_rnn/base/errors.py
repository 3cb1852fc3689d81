"""User-facing errors: a one-paragraph message and an exit code instead of a traceback."""

import errno
import os
import re
import sys
import tempfile
import threading
import traceback
from argparse import ArgumentError
from collections.abc import Callable
from functools import wraps
from typing import Any

from lit_rnn.base import child_errors, interrupts


class UserError(Exception):
    """Something the user can fix (a value, a path, a file); the message says what and how."""

    exit_code = 2


class ConfigError(UserError):
    """A configuration value is out of range.

    Args:
        message: The whole message, what is wrong and what to do.
        problem: What is wrong alone, to quote where the value came from elsewhere (a checkpoint).
    """

    def __init__(self, message: str, problem: str | None = None) -> None:
        super().__init__(message)
        self.problem = problem or message


def check_config(condition: bool, argument: str, value: Any, expected: str) -> None:
    """Refuse a configuration value, naming the argument, unless ``condition`` holds."""
    if not condition:
        problem = f"--{argument} is {value!r}, but it must be {expected}."
        raise ConfigError(f"{problem} Change it on the command line or in the YAML config.", problem)


def summarize(error: BaseException) -> str:
    """``Type: first line ... last line`` of an exception, to quote a library's multi-line report in a one-line message.

    The first line says what failed and the last, in reports that list attempts (a download), the final cause.
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    return f"{type(error).__name__}: {lines[0]}" + (f" ... {lines[-1]}" if len(lines) > 1 else "")


# What a value must be, by the last part of its key, where the type alone says too little.
_MEANINGS = {"lr": "a finite positive number"}


def summarize_parse_error(message: str) -> str:
    """Turn jsonargparse's nested report (one branch per accepted type) into one sentence naming the argument."""
    keys = re.findall(r'Parser key "([^"]+)"', message)
    expected = sorted(set(re.findall(r"Expected an? <class '(\w+)'>", message)) - {"NoneType"})
    expected += [f"one of {choices}" for choices in re.findall(r"Expected an? typing\.Literal\[(.*?)\]", message)]
    # The innermost value given; the outer reports repeat it wrapped in a Namespace or NestedArg.
    given = [
        value
        for value in re.findall(r"(?:Given|Got) value: (.*?)(?:\. Got value:|$)", message, re.MULTILINE)
        if not value.startswith(("Namespace(", "NestedArg("))
    ]
    if keys and expected and given:
        value = given[0]
        if "float" in expected and keys[-1] in _MEANINGS:
            meaning = _MEANINGS[keys[-1]]
        elif "float" in expected and value.strip().lower().lstrip("+-") in ("nan", "inf", "infinity"):
            meaning = "a finite number"  # jsonargparse refuses them as floats, which they are
        else:
            meaning = " or ".join(kind if kind.startswith("one of") else f"of type {kind}" for kind in expected)
        return f"--{'.'.join(keys)} is {value!r}, but it must be {meaning}."
    required = re.search(r"the following arguments are required: ([\w, ]+)", message)
    class_path = re.search(r"class_path='([\w.]+)'", message)
    if keys and required and class_path:
        names = ", ".join(f"--{keys[0]}.{name.strip()}" for name in required.group(1).split(","))
        return f"--{keys[0]} is {class_path.group(1)}, which needs {names}: give it a value."
    unknown = re.search(r"Option '(\w+)' is not accepted", message)
    named = re.search(r"class_path[ =]'([\w.]+)'", message)
    if keys and unknown and named:
        named, option = named.group(1), unknown.group(1)
        return f"--{keys[0]}.{option} is not an argument of {named} (each is given by its whole name)."
    sentence = " ".join(line.strip() for line in message.strip().splitlines())
    return sentence if sentence.endswith(".") else sentence + "."


# The machine's limits on what a command writes: (what happened, what the user can do), by the write's error number.
_FULL = {
    errno.ENOSPC: ("The disk is full", "free some space"),
    errno.EDQUOT: ("The disk quota is used up", "free some space or raise the quota"),
    errno.EFBIG: ("A file grew past this process's file-size limit", "raise the limit (ulimit -f)"),
}


def _bug_line(error: Exception) -> str:
    """The last resort for what no check foresaw: one line for the user, the traceback in a file for the report."""
    handle, path = tempfile.mkstemp(prefix="lit_rnn-crash-", suffix=".txt")
    with open(handle, "w") as crash:
        crash.write("".join(traceback.format_exception(error)))
    return f"error: this is a bug in lit_rnn: {summarize(error).rstrip('.')}. The full traceback is in {path}; please report it."


def _line_and_exit_code(error: Exception) -> tuple[str, int]:
    if isinstance(error, UserError):
        return f"error: {error}", error.exit_code
    if isinstance(error, ArgumentError):  # the command line or a YAML config did not parse
        return f"error: {summarize_parse_error(error.message)} Run with --help to see the options.", 2
    if isinstance(error, OSError) and error.errno in _FULL:
        what, fix = _FULL[error.errno]
        return (
            f"error: {what}: writing {error.filename or 'a file'} failed ({error.strerror}). Checkpoints are "
            f"written whole or not at all, so those saved before are intact: {fix}, then continue with "
            "--ckpt_path last (or run the command again, if it had saved none)."
        ), 1
    return _bug_line(error), 1


_saying = threading.Lock()
_said = threading.Event()  # this process said an error: its own, or a child's (``launchers``)


def report(error: Exception) -> int:
    """Say in one line what went wrong, and leave the error for the command that started this process, if one
    asked (``child_errors``); the exit code. Where a child working alongside it failed first, its error is the one
    said (this one's is most likely its echo). A process that the first process of a distributed run started leaves
    the saying to that one: the user sees one line, not one per process."""
    with _saying:
        _said.set()
        error = child_errors.first_failure() or error
        if child_errors.record(error) and os.environ.get("LOCAL_RANK", "0") != "0":
            return 1
        line, exit_code = _line_and_exit_code(error)
        print(line, file=sys.stderr)
        return exit_code


def report_for_child(error: Exception) -> int | None:
    """Say a child's error as this process's own, unless it said one already; the exit code, or None.

    The caller ends the process at once: the lock stays held, so that nothing else is said meanwhile.
    """
    _saying.acquire()
    if _said.is_set():
        _saying.release()
        return None
    _said.set()
    line, exit_code = _line_and_exit_code(error)
    print(line, file=sys.stderr, flush=True)
    return exit_code


def exits_cleanly_on_user_error(main: Callable[..., Any]) -> Callable[..., Any]:
    """Let an entry point end with the error's message and a non-zero exit code, never a traceback.

    SIGTERM and Ctrl-C end it with their own line and exit code (``interrupts``); SystemExit passes through.
    """

    @wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with interrupts.handled():
                return main(*args, **kwargs)
        except Exception as error:
            sys.exit(report(error))

    return wrapper
