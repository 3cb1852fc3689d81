"""Ending a command's process without Python's teardown, which takes longer than the command's own report."""

import os
import sys
import threading
from collections.abc import Callable
from typing import Any, NoReturn

from lit_rnn.base import interrupts
from lit_rnn.base.cuda_check import skip_nvml_check_without_nvml
from lit_rnn.base.private_apis import run_exit_handlers


def run_then_exit(main: Callable[[], Any]) -> NoReturn:
    """Run an entry point's ``main``, then end the process as Python would, minus freeing each of its objects.

    At exit Python frees every object of every module it imported: for torch, torchvision and Lightning, about a
    second on two CPU cores (1.1 s after the default fit, a sixth of the whole command), work that the operating
    system does at once when the process ends. Everything else a normal exit does is done: other threads are waited
    for, the ``atexit`` handlers run (logging, multiprocessing, temporary folders), and the output is flushed. A signal
    meanwhile ends the process at once (``interrupts.end``).

    The process is the command's own, so it first asks CUDA's availability the quick way where that gives the same
    answer (``skip_nvml_check_without_nvml``).
    """
    skip_nvml_check_without_nvml()
    code: Any = None
    try:
        main()
    except SystemExit as exit:
        code = exit.code
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)  # as Python does with sys.exit("message")
        code = 1
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # what the command said stays said, even if a signal ends the rest at once
    interrupts.end(code or 0)
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    run_exit_handlers()  # the handlers the interpreter itself would run at this point
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code or 0)
