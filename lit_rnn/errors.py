"""User-facing errors: a one-paragraph message and an exit code instead of a traceback."""

import errno
import re
import sys
import tempfile
import traceback
from argparse import ArgumentError
from collections.abc import Callable
from functools import wraps
from typing import Any

from lit_rnn import interrupts


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
    given = [value for value in re.findall(r"(?:Given|Got) value: (.*?)(?:\. Got value:|$)", message, re.MULTILINE)
             if not value.startswith(("Namespace(", "NestedArg("))]
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
    sentence = " ".join(line.strip() for line in message.strip().splitlines())
    return sentence if sentence.endswith(".") else sentence + "."


# The machine's limits on what a command writes: (what happened, what the user can do), by the write's error number.
_FULL = {
    errno.ENOSPC: ("The disk is full", "free some space"),
    errno.EDQUOT: ("The disk quota is used up", "free some space or raise the quota"),
    errno.EFBIG: ("A file grew past this process's file-size limit", "raise the limit (ulimit -f)"),
}


def _report_bug(error: Exception) -> None:
    """The last resort for what no check foresaw: one line for the user, the traceback in a file for the report."""
    handle, path = tempfile.mkstemp(prefix="lit_rnn-crash-", suffix=".txt")
    with open(handle, "w") as crash:
        crash.write("".join(traceback.format_exception(error)))
    print(f"error: this is a bug in lit_rnn: {summarize(error).rstrip('.')}. The full traceback is in {path}; please report it.",
          file=sys.stderr)
    sys.exit(1)


def exits_cleanly_on_user_error(main: Callable[..., Any]) -> Callable[..., Any]:
    """Let an entry point end with the error's message and a non-zero exit code, never a traceback.

    SIGTERM and Ctrl-C end it with their own line and exit code (``interrupts``); SystemExit passes through.
    """

    @wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with interrupts.handled():
                return main(*args, **kwargs)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(error.exit_code)
        except ArgumentError as error:  # the command line or a YAML config did not parse
            print(f"error: {summarize_parse_error(error.message)} Run with --help to see the options.", file=sys.stderr)
            sys.exit(2)
        except OSError as error:
            if error.errno not in _FULL:
                _report_bug(error)
            what, fix = _FULL[error.errno]
            print(f"error: {what}: writing {error.filename or 'a file'} failed ({error.strerror}). Checkpoints are "
                  f"written whole or not at all, so those saved before are intact: {fix}, then continue with "
                  "--ckpt_path last (or run the command again, if it had saved none).", file=sys.stderr)
            sys.exit(1)
        except Exception as error:
            _report_bug(error)

    return wrapper
