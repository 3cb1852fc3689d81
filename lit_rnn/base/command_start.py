"""The first lines of every command's process, run before its imports, which take seconds."""

import os
import sys

from lit_rnn.base import interrupts
from lit_rnn.base.errors import UserError


def start_command() -> None:
    """Handle signals from now on (``interrupts``), and refuse a working folder that no longer exists.

    A shell can stay in a folder deleted from another terminal (a run's folder removed with ``rm -rf``); a command
    started there would die as torch loads, in oneMKL's own "FATAL ERROR", with no line saying why.
    """
    interrupts.install()
    try:
        os.getcwd()
    except FileNotFoundError:
        print(
            "error: The folder this command was started in has been deleted, so no path relative to it can be read "
            "or written. Change to a folder that exists (cd) and run the command again.",
            file=sys.stderr,
        )
        sys.exit(UserError.exit_code)
