"""``python -m lit_rnn.serve`` started in a subprocess, as a user starts it, on a free port."""

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from helpers.commands import REPO


@dataclass
class Server:
    url: str
    process: subprocess.Popen

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str, str]:
        """Send ``signum`` as a terminal or ``kill`` would: Ctrl-C reaches every process of the group, SIGTERM the
        one named; the exit code, stdout and stderr once it has ended."""
        self.send(signum)
        out, err = self.process.communicate(timeout=90)
        return self.process.returncode, out, err

    def send(self, signum: int) -> None:
        """``signum`` as a terminal or ``kill`` sends it: Ctrl-C to every process of the group, SIGTERM to the one."""
        if signum == signal.SIGINT:
            os.killpg(self.process.pid, signum)
        else:
            self.process.send_signal(signum)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(workdir: Path, *args: str, env: dict[str, str] | None = None) -> Server:
    """``python -m lit_rnn.serve`` of the newest run in ``workdir`` on a free port, just started."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "lit_rnn.serve", "--port", str(port), *args],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as in a terminal, and removed whole after the test
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]), **(env or {})},
    )
    return Server(f"http://127.0.0.1:{port}", process)


@contextmanager
def serving(workdir: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    """A server of the newest run in ``workdir``, ready (``/health`` answers ok); stopped after, if still running."""
    server = start(workdir, *args, env=env)
    process = server.process
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise AssertionError(f"the server ended with {process.returncode}: {process.stderr.read()[-3000:]}")
            try:
                if httpx.get(f"{server.url}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server was not ready within 3 minutes"
            time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


def send_answers(answers: Any, count: int) -> None:
    """A LitServe worker's answers on their queue, some larger than a pipe's buffer (they arrive in parts), with
    pauses between some. Run in a process of its own, which imports no more than this module."""
    sizes = random.Random(0)
    for number in range(count):
        answers.put((f"uid{number}", b"x" * sizes.choice([10, 3_000, 100_000])))
        if number % 100 == 0:
            time.sleep(0.002)
