"""Locks on files, held by a process: ``flock``, which the kernel releases when the process ends, however it ends,
so that a lock never outlives its owner and no stale lock is ever left to clean up.

Not ``filelock``'s ``FileLock`` (the same ``flock`` on Unix): it opens the lock file truncated, so a process that
fails to take a run's lock would erase the owner's name that the run's lock file holds for the error message.
"""

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def try_lock(path: Path, shared: bool = False, create: bool = True) -> IO[str] | None:
    """Lock ``path`` without waiting; the open file holding the lock (closing it releases the lock), or None when
    another process holds it. ``shared``: a lock many may hold at once, to see whether anyone holds the other kind.

    Raises:
        FileNotFoundError: ``path`` is not there and ``create`` is false.
        OSError: ``path`` cannot be opened (a folder that cannot be written, say).
    """
    handle = open(path, "a+" if create else "r")  # noqa: SIM115 - returned open: the lock lives as long as the file
    try:
        fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if need be) while the block runs, waiting for it if need be."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
