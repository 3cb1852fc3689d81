"""A process that ends when its parent does: the sweep's fork server with its worker, a trial's fit with the server.

Only the standard library: the server calls it before its imports, which take seconds.
"""

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1  # Linux's prctl option: the signal this process gets when its parent ends


def die_with_parent(parent: int) -> None:
    """End this process with SIGKILL as soon as its parent ends, however that ends (SIGKILL included); at once if
    ``parent``, its pid, has ended already."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it ended before the call above: nothing will send the signal
        os._exit(128 + signal.SIGKILL)
