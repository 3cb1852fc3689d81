"""SIGTERM and Ctrl-C: whenever they come, a command ends with one line saying what is saved, and exit code 143 or 130.

During training a signal is a request: the run finishes its step, saves it and stops (``RecoveryCheckpoint``
asks ``requested()`` at each step boundary). Anywhere else (start-up, the sanity check, the final test, the
report) it stops the command at once, with the line that the command set for that phase. Either way the exit
code is the shell's 128 + signal number, so a scheduler never takes an interrupted job for a finished one.

Only the standard library is imported here: the entry points install the handlers before their own imports,
which take seconds.
"""

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from lit_rnn import child_errors

HANDLED = (signal.SIGINT, signal.SIGTERM)
START_UP = "during start-up, before anything was saved. Run the command again."


class Interrupted(SystemExit):
    """A signal stopped the command. A ``SystemExit``, so that no ``except Exception`` on its way takes it for an error
    of its own, and Python exits with its code and no traceback even where nothing catches it."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


class _Phase:
    """What a stop means now: the text after "Stopped by SIGNAL", whether to defer to a step boundary, who speaks."""

    after_stop = START_UP
    deferring = False
    requested: int | None = None
    announce = True


def install() -> None:
    """Handle SIGINT and SIGTERM in this process from now on (again after a library replaced the handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may set handlers; signals are delivered there anyway
    for signum in HANDLED:
        signal.signal(signum, _handle)


@contextmanager
def handled() -> Iterator[None]:
    """Handle the signals while a command runs, starting in its start-up phase; then give back the handlers it found."""
    previous = {signum: signal.getsignal(signum) for signum in HANDLED}
    install()
    set_phase(START_UP)
    try:
        yield
    finally:
        if threading.current_thread() is threading.main_thread():
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def set_phase(after_stop: str, announce: bool = True) -> None:
    """Stop at once on a signal from now on, printing ``error: Stopped by SIGNAL {after_stop}``.

    Args:
        after_stop: Where the command was and what the user can do, e.g. "during the test; the model is saved in X".
        announce: Whether this process prints the line (one process of a distributed run speaks for all).
    """
    _Phase.after_stop, _Phase.announce = after_stop, announce
    _Phase.deferring, _Phase.requested = False, None


def defer() -> None:
    """From now on a signal is only recorded, for ``requested()``; a second Ctrl-C still stops at once."""
    _Phase.deferring, _Phase.requested = True, None


def requested() -> int | None:
    """The signal received since ``defer()``, if any."""
    return _Phase.requested


def stop(signum: int, after_stop: str, announce: bool = True) -> None:
    """End the command for ``signum`` with one line: ``error: Stopped by SIGNAL {after_stop}``."""
    if announce:
        # os.write, not print: this may run inside a signal handler that interrupted a print.
        os.write(2, f"\nerror: Stopped by {signal.Signals(signum).name} {after_stop}\n".encode())
    raise Interrupted(signum)


def _handle(signum: int, frame: object) -> None:
    if child_errors.another_failed():  # the signal that ends the other processes: the failed one's error is said
        os._exit(128 + signum)
    if _Phase.deferring:
        if _Phase.requested == signal.SIGINT and signum == signal.SIGINT:
            stop(signum, "(a second Ctrl-C) in the middle of a training step: the work since the last checkpoint is "
                         "lost. Continue from that checkpoint with the same command plus --ckpt_path last.",
                 _Phase.announce)
        if _Phase.requested is None and _Phase.announce:
            again = " (Ctrl-C again stops at once)" if signum == signal.SIGINT else ""
            os.write(2, f"\n{signal.Signals(signum).name}: saving at the end of this step, then stopping{again}.\n".encode())
        _Phase.requested = _Phase.requested or signum
        return
    stop(signum, _Phase.after_stop, _Phase.announce)
