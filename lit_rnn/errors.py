"""User-facing errors: a one-paragraph message and an exit code instead of a traceback."""

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any


class UserError(Exception):
    """Something the user can fix (a value, a path, a file); the message says what and how."""

    exit_code = 2


def exits_cleanly_on_user_error(main: Callable[..., Any]) -> Callable[..., Any]:
    """Let an entry point end with the error's message and a non-zero exit code, never a traceback."""

    @wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return main(*args, **kwargs)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(error.exit_code)

    return wrapper
