"""SIGTERM, SIGUSR1 and Ctrl-C: whenever they come, a command ends with one line saying what is saved, and exit code
143, 138 or 130.

SIGUSR1 is what a cluster sends ahead of a stop (Slurm's ``--signal=USR1@SECONDS`` before the time limit): it is taken
as SIGTERM is. Its handler being the project's, Lightning's own SLURM auto-requeue on SIGUSR1 stays off (its signal
connector adds none where a handler is set): the job script that started the command decides about a requeue, by the
exit code (``examples/slurm/``).

During training a signal is a request: the run finishes its step, saves it and stops (``RecoveryCheckpoint``
asks ``requested()`` at each step boundary). Anywhere else (start-up, the sanity check, the final test, the
report) it stops the command at once, with the line that the command set for that phase. Either way the exit
code is the shell's 128 + signal number, so a scheduler never takes an interrupted job for a finished one.

Only the standard library is imported here: the entry points install the handlers before their own imports,
which take seconds. Where nothing is left to undo (the start-up, before anything is made; the process's end, after
the command's work) a signal ends the process on the spot instead of raising: an exception raised inside a library's
import or Python's exit handlers can be taken by them for an error of their own, printed, even ignored.
"""

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from lit_rnn.base import child_errors

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)
START_UP = "during start-up, before anything was saved. Run the command again."
DONE = "as it was ending, its work done: nothing is lost."


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
    exit_code: int | None = 0  # not None: a signal ends the process on the spot, with this code (0: the signal's own)


def install() -> None:
    """Handle SIGINT, SIGTERM and SIGUSR1 in this process from now on (again after a library replaced the handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may set handlers; signals are delivered there anyway
    for signum in HANDLED:
        signal.signal(signum, _handle)


@contextmanager
def handled() -> Iterator[None]:
    """Handle the signals while a command runs, starting in its start-up phase; then give back the handlers it found."""
    previous = {signum: signal.getsignal(signum) for signum in HANDLED}
    install()
    set_phase(START_UP, on_the_spot=True)
    try:
        yield
    finally:
        if threading.current_thread() is threading.main_thread():
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def set_phase(after_stop: str, announce: bool = True, on_the_spot: bool = False) -> None:
    """Stop at once on a signal from now on, printing ``error: Stopped by SIGNAL {after_stop}``.

    Args:
        after_stop: Where the command was and what the user can do, e.g. "during the test; the model is saved in X".
        announce: Whether this process prints the line (one process of a distributed run speaks for all).
        on_the_spot: End the process in the signal handler, not by raising ``Interrupted``: for a phase that has made
            nothing to undo.
    """
    _Phase.after_stop, _Phase.announce, _Phase.exit_code = after_stop, announce, 0 if on_the_spot else None
    _Phase.deferring, _Phase.requested = False, None


def defer() -> None:
    """From now on a signal is only recorded, for ``requested()``; a second Ctrl-C still stops at once."""
    _Phase.deferring, _Phase.requested, _Phase.exit_code = True, None, None


def requested() -> int | None:
    """The signal received since ``defer()``, if any."""
    return _Phase.requested


def stop(signum: int, after_stop: str, announce: bool = True) -> None:
    """End the command for ``signum`` with one line: ``error: Stopped by SIGNAL {after_stop}``.

    A second signal from here on ends the process at once and says nothing more: the line says what is saved.
    """
    _Phase.exit_code = 128 + signum
    if announce:
        _say(signum, after_stop)
    raise Interrupted(signum)


def end(exit_code: int) -> None:
    """The command is ending with ``exit_code``, its work done or its error said. From now on a signal ends the
    process at once (not in the middle of Python's exit handlers, which would print it as their own error and go on):
    after work done, with its line and exit code; else with ``exit_code``, and nothing more said."""
    install()
    set_phase(DONE, _Phase.announce, on_the_spot=True)
    _Phase.exit_code = exit_code


def _say(signum: int, after_stop: str) -> None:
    # os.write, not print: this may run inside a signal handler that interrupted a print.
    os.write(2, f"\nerror: Stopped by {signal.Signals(signum).name} {after_stop}\n".encode())


def _handle(signum: int, frame: object) -> None:
    if child_errors.another_failed():  # the signal that ends the other processes: the failed one's error is said
        os._exit(128 + signum)
    if _Phase.exit_code is not None:
        if _Phase.exit_code == 0 and _Phase.announce:
            _say(signum, _Phase.after_stop)
        os._exit(_Phase.exit_code or 128 + signum)
    if _Phase.deferring:
        if _Phase.requested == signal.SIGINT and signum == signal.SIGINT:
            stop(
                signum,
                "(a second Ctrl-C) in the middle of a training step: the work since the last checkpoint is "
                "lost. Continue from that checkpoint with the same command plus --ckpt_path last.",
                _Phase.announce,
            )
        if _Phase.requested is None and _Phase.announce:
            again = " (Ctrl-C again stops at once)" if signum == signal.SIGINT else ""
            os.write(
                2, f"\n{signal.Signals(signum).name}: saving at the end of this step, then stopping{again}.\n".encode()
            )
        _Phase.requested = _Phase.requested or signum
        return
    stop(signum, _Phase.after_stop, _Phase.announce)
