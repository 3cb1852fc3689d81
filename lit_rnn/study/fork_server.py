"""A process that imports an entry module once and forks each of a worker's runs of it from there, so that a run
starts as a fresh ``python -m MODULE`` would, less Python's start and its seconds of imports (torch, Lightning).

Each forked run is its own process, in a process group of its own: its own pid, exit code, signals and file locks.
A signal to the worker's group (Ctrl-C in a terminal, a scheduler's SIGTERM) reaches the worker alone, which passes it
on to the run once: a run of the worker's group would get it twice, and take the second for a second Ctrl-C that stops
at once, unsaved. The server dies with its worker and the run with its server (``PR_SET_PDEATHSIG``), however either
ends, SIGKILL included: no run goes on without a worker to report its end.
The server forks from a process that has only imported (no OpenMP pool, no CUDA, no open database yet; the one
other thread, OpenBLAS's, which numpy starts at import, stops at a fork and starts again in the child by OpenBLAS's
own fork handlers), so the run's torch is that of a fresh process, threads included. It serves one run at a time
and holds SIGINT and SIGTERM blocked: a signal to the worker's group leaves it waiting for its run, which saves and
stops, and then reports the run's exit code. The run unblocks them once its own handlers are in, so a signal sent to
it even before then reaches them.

Not ``multiprocessing``'s forkserver: its server dies at such a SIGTERM, and its client then reads exit code 255 at
once, while the run is still saving; it also re-runs the worker's ``__main__`` module in every run it forks.

``python -m lit_rnn.study.fork_server FD WORKER_PID MODULE...`` is the server; the worker starts it through ``ForkServer``.
"""

if __name__ == "__main__":  # before the imports below, which take seconds: runs forked later unblock them
    import signal
    import sys

    from lit_rnn.base import interrupts
    from lit_rnn.study.parent_death import die_with_parent

    signal.pthread_sigmask(signal.SIG_BLOCK, interrupts.HANDLED)
    die_with_parent(int(sys.argv[2]))  # the worker

import importlib
import os
import pickle
import runpy
import select
import signal
import socket
import struct
import subprocess
import sys
import traceback
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import IO, NoReturn

from lit_rnn.base import interrupts
from lit_rnn.base.quick_exit import run_then_exit
from lit_rnn.study.parent_death import die_with_parent

_NUMBER = struct.Struct("i")  # a reply: the run's pid, then its exit code
_MAX_REQUEST = 1 << 20  # a request's bytes: the module, its arguments and the environment


class ForkServer:
    """The worker's end: starts the server at the first ``start`` (so a worker with nothing to run starts none), and
    ends it on ``close``, or on its own when the worker dies.

    Args:
        preload: The modules the server imports once, for every run: the run's entry module and what it imports
            later, at a run's every start.
    """

    def __init__(self, preload: Iterable[str]) -> None:
        self.preload = list(preload)
        self._channel: socket.socket | None = None
        self._server: subprocess.Popen | None = None

    def start(self, module: str, args: list[str], env: Mapping[str, str], output: IO) -> "ForkedProcess":
        """Fork ``python -m module *args`` from the server, with ``env`` for its environment and ``output`` (an open
        file) for its stdout and stderr; the running process. One at a time: wait for it before starting another."""
        if self._channel is None:
            self._channel, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            with theirs:
                self._server = subprocess.Popen(
                    [sys.executable, "-m", __name__, str(theirs.fileno()), str(os.getpid()), *self.preload],
                    pass_fds=[theirs.fileno()],
                )
        try:
            socket.send_fds(self._channel, [pickle.dumps((module, args, dict(env)))], [output.fileno()])
        except OSError:
            raise ServerGone() from None
        return ForkedProcess(self._channel, _read_number(self._channel))

    def close(self) -> None:
        """End the server, after the run it serves, if any, has ended."""
        if self._channel is not None:
            self._channel.close()
            self._server.wait()
            self._channel = self._server = None

    def __enter__(self) -> "ForkServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ForkedProcess:
    """A run forked by the server, as ``subprocess.Popen`` shows a process: ``pid``, ``returncode`` (minus the signal
    number, if a signal ended it), ``wait`` and ``send_signal``; leaving its ``with`` block waits for it, as Popen's."""

    def __init__(self, channel: socket.socket, pid: int) -> None:
        self._channel, self.pid = channel, pid
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> int:
        """The exit code, once the process has ended.

        Raises:
            subprocess.TimeoutExpired: it is still running after ``timeout`` seconds.
        """
        if self.returncode is None:
            if not select.select([self._channel], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(f"forked process {self.pid}", timeout)
            self.returncode = _read_number(self._channel)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, signum)

    def __enter__(self) -> "ForkedProcess":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType) -> None:
        self.wait()


class ServerGone(RuntimeError):
    """The server ended before its run did: killed, or its preload failed (its traceback is on the worker's stderr)."""

    def __init__(self) -> None:
        super().__init__("the fork server of the runs ended unexpectedly; its last messages are above this one")


def _read_number(channel: socket.socket) -> int:
    try:
        reply = channel.recv(_NUMBER.size)
    except ConnectionResetError:  # the server ended with our request unread: killed while it imported, say
        raise ServerGone() from None
    if len(reply) != _NUMBER.size:
        raise ServerGone()
    return _NUMBER.unpack(reply)[0]


def serve(channel: socket.socket, preload: list[str]) -> None:
    """Import ``preload``, then fork each requested run and report its pid and exit code, until the worker is gone."""
    for module in preload:
        importlib.import_module(module)
    while True:
        request, fds, _, _ = socket.recv_fds(channel, _MAX_REQUEST, 1)
        if not request:
            return  # the worker closed its end, or ended
        module, args, env = pickle.loads(request)  # from the worker that started this server, by its own socket
        (output,) = fds
        server = os.getpid()
        pid = os.fork()
        if pid == 0:
            os.setpgid(0, 0)
            die_with_parent(server)
            channel.close()
            _run_as_main(module, args, env, output)
        os.close(output)
        try:
            channel.send(_NUMBER.pack(pid))
            channel.send(_NUMBER.pack(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])))
        except BrokenPipeError:
            return  # the worker has ended; its run was reaped


def _run_as_main(module: str, args: list[str], env: Mapping[str, str], output: int) -> NoReturn:
    """In the forked process: become ``python -m module *args`` with ``env``, writing to ``output``, and end as it
    would: its exit code, its exit path (``run_then_exit``, or Python's own for an error that escapes the module)."""
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)
    sys.stdout.reconfigure(line_buffering=False)  # as a fresh process's stdout to a file, whatever the server's was
    os.environ.clear()
    os.environ.update(env)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()  # Python's own random reseeds itself after a fork; numpy's does not
    interrupts.install()  # as the entry module's first line does; then a signal sent since the fork reaches it
    signal.pthread_sigmask(signal.SIG_UNBLOCK, interrupts.HANDLED)
    sys.argv = [module, *args]  # runpy puts the module's path first, as ``-m`` does
    sys.modules.pop(module, None)  # preloaded for its imports; ``-m`` runs it anew as __main__, its imports done
    try:
        run_then_exit(lambda: runpy.run_module(module, run_name="__main__", alter_sys=True))
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)


if __name__ == "__main__":  # ends without freeing torch's objects one by one: the worker waits for its end
    run_then_exit(lambda: serve(socket.socket(fileno=int(sys.argv[1])), sys.argv[3:]))
