"""A child process's error, carried to the command that started it, so that a run of several processes ends as one.

A command that starts processes (Lightning's ``ddp`` launcher, a sweep's trials) names a folder in
``LIT_RNN_ERROR_RECORDS`` as it starts them; a child leaves its error there, pickled, under its process id, and the
command takes up that very error. So a mistake of the user's met in a child is the one line and exit code it is in a
single process, said once, and only a real bug gets a traceback file, with the child's traceback in it. A file, not
the child's printed text: the error keeps its type.

Only the standard library is imported here: ``errors`` records with it.
"""

import atexit
import os
import pickle
import shutil
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RECORDS = "LIT_RNN_ERROR_RECORDS"

_watched: list[Path] = []  # the folders of the children that run alongside this process (``ddp``'s)


class ChildTraceback(Exception):
    """The traceback of an error raised in a child process, as text; the cause of that error where it is taken up."""


def record(error: BaseException) -> bool:
    """Leave ``error`` for the command that started this process, when one asked for it; whether one did."""
    folder = os.environ.get(RECORDS)
    if folder is None:
        return False
    text = "".join(traceback.format_exception(error))
    try:
        data = pickle.dumps((error, text))
        pickle.loads(data)
    except Exception:  # an error that does not survive pickling: its traceback stands in for it
        data = pickle.dumps((ChildTraceback(text), text))
    partial = Path(folder) / f".{os.getpid()}"
    try:
        partial.write_bytes(data)
        partial.rename(partial.with_name(str(os.getpid())))  # whole or absent for the reader
    except OSError:  # the command has ended and taken its folder with it, having said its own error
        pass
    return True


def recorded(folder: Path, pid: int) -> BaseException | None:
    """The error that process ``pid`` left in ``folder``, taken from it, with its traceback as its cause; None if it
    left none."""
    path = folder / str(pid)
    if not path.is_file():
        return None
    error, text = pickle.loads(path.read_bytes())  # written by our own child, in a folder only this user reaches
    path.unlink()
    if not isinstance(error, ChildTraceback):
        error.__cause__ = ChildTraceback(text)
    return error


def records_folder() -> Path:
    """A new folder for the errors of children, removed as this process exits (its children end before it)."""
    folder = tempfile.mkdtemp(prefix="lit_rnn-errors-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return Path(folder)


def watch(folder: Path) -> None:
    """Count the errors left in ``folder`` as those of children that work alongside this process (``first_failure``)."""
    _watched.append(folder)


def first_failure() -> BaseException | None:
    """The error of a child working alongside this process that failed, taken up; None if none did.

    A child that fails first makes this process fail too, with an error of its own that only echoes it (the child's
    connection, reset): the child's error is the one to say.
    """
    for folder in _watched:
        for path in sorted(folder.glob("*"), key=lambda path: path.stat().st_mtime_ns):
            if path.name.isdigit():
                return recorded(folder, int(path.name))
    return None


def another_failed() -> bool:
    """Whether another process of this command has failed: the command is ending them all for it."""
    folder = os.environ.get(RECORDS)
    return folder is not None and any(
        path.name.isdigit() and path.name != str(os.getpid()) for path in Path(folder).glob("*")
    )


def environment(folder: Path) -> dict[str, str]:
    """This process's environment, for a child that is to leave its error in ``folder``."""
    return {**os.environ, RECORDS: str(folder)}


@contextmanager
def recorded_into(folder: Path) -> Iterator[None]:
    """Have the processes that a library starts in the block (with this process's environment) leave their errors in
    ``folder``."""
    previous = os.environ.get(RECORDS)
    os.environ[RECORDS] = str(folder)
    try:
        yield
    finally:
        if previous is None:
            del os.environ[RECORDS]
        else:
            os.environ[RECORDS] = previous
