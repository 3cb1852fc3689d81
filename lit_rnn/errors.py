"""User-facing errors: a one-paragraph message and an exit code instead of a traceback."""

import errno
import re
import sys
from argparse import ArgumentError
from collections.abc import Callable
from functools import wraps
from typing import Any


class UserError(Exception):
    """Something the user can fix (a value, a path, a file); the message says what and how."""

    exit_code = 2


class ConfigError(UserError):
    """A configuration value is out of range."""


def check_config(condition: bool, argument: str, value: Any, expected: str) -> None:
    """Refuse a configuration value, naming the argument, unless ``condition`` holds."""
    if not condition:
        raise ConfigError(
            f"--{argument} is {value!r}, but it must be {expected}. Change it on the command line or in the YAML config."
        )


def summarize_parse_error(message: str) -> str:
    """Turn jsonargparse's nested report (one branch per accepted type) into one sentence naming the argument."""
    keys = re.findall(r'Parser key "([^"]+)"', message)
    expected = sorted(set(re.findall(r"Expected an? <class '(\w+)'>", message)) - {"NoneType"})
    given = re.search(r"Given value: (.*?)(?:\. Got value:|$)", message, re.MULTILINE)
    if keys and expected and given:
        return f"--{'.'.join(keys)} is {given.group(1)!r}, but it must be of type {' or '.join(expected)}."
    sentence = " ".join(line.strip() for line in message.strip().splitlines())
    return sentence if sentence.endswith(".") else sentence + "."


def exits_cleanly_on_user_error(main: Callable[..., Any]) -> Callable[..., Any]:
    """Let an entry point end with the error's message and a non-zero exit code, never a traceback."""

    @wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return main(*args, **kwargs)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(error.exit_code)
        except ArgumentError as error:  # the command line or a YAML config did not parse
            print(f"error: {summarize_parse_error(error.message)} Run with --help to see the options.", file=sys.stderr)
            sys.exit(2)
        except OSError as error:
            if error.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            print(f"error: The disk is full: writing {error.filename or 'a file'} failed ({error.strerror}). "
                  "Checkpoints are written whole or not at all, so the previous one is intact: free some space, "
                  "then continue with --ckpt_path last.", file=sys.stderr)
            sys.exit(1)

    return wrapper
