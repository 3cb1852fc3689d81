"""SIGTERM (``kill``) and Ctrl-C (SIGINT to the terminal's whole process group) at every phase of
``python -m lit_rnn.serve``: each ends the server within seconds, exit 143 or 130, with one ``error:`` line, no
traceback, and no process of the server left running. A representative row per signal is ``slow``; the whole matrix
is ``long``."""

import signal
import threading
import time
from collections.abc import Callable

import httpx
import psutil
import pytest
from helpers.serving import Server, start

pytestmark = pytest.mark.slow
WITHIN = 20  # seconds from the signal to the exit, on two busy cores
SIGNALS = {"SIGTERM": signal.SIGTERM, "SIGINT": signal.SIGINT}
EMPTY = {"pixels": [[0.0] * 28] * 28}


def first_line(server: Server) -> None:
    line = server.process.stdout.readline()
    assert line.startswith("Checkpoint:"), line


def ready(server: Server) -> None:
    first_line(server)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{server.url}/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server was not ready within 3 minutes")


def started_for(seconds: float) -> Callable[[Server], None]:
    return lambda server: time.sleep(seconds)


def a_worker_importing(server: Server) -> None:
    """A worker spawned (``multiprocessing.spawn``), still importing torch and the model."""
    first_line(server)
    parent = psutil.Process(server.process.pid)
    while not any("spawn_main" in " ".join(child.cmdline()) for child in parent.children()):
        time.sleep(0.01)
    time.sleep(0.2)


# Each phase: what is done before the signal, and whether requests are being asked meanwhile.
PHASES = {
    "importing": started_for(0.2),
    "start-up, later (imports, the checkpoint, the server built)": started_for(1.5),
    "just after it prints Checkpoint:": first_line,
    "its workers starting": a_worker_importing,
    "idle": ready,
    "answering under load": ready,
}
SLOW_ROWS = {("just after it prints Checkpoint:", "SIGINT"), ("answering under load", "SIGTERM")}


def rows(phases):  # noqa: ANN001, ANN201
    return [
        pytest.param(phase, name, marks=[] if (phase, name) in SLOW_ROWS else [pytest.mark.long])
        for phase in phases
        for name in SIGNALS
    ]


class Descendants:
    """Every process the server starts, seen until it ends (polled: a process can start after the signal)."""

    def __init__(self, server: Server) -> None:
        self.seen: dict[int, psutil.Process] = {}
        self.root = psutil.Process(server.process.pid)
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while True:
            try:
                for child in self.root.children(recursive=True):
                    self.seen.setdefault(child.pid, child)
            except psutil.NoSuchProcess:
                return
            time.sleep(0.01)

    def alive(self) -> list[str]:
        self.thread.join(timeout=5)
        left = []
        for process in self.seen.values():
            try:
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    left.append(f"{process.pid} {' '.join(process.cmdline())[:100]}")
            except psutil.NoSuchProcess:
                pass
        return left


class Load:
    """Clients asking for a digit again and again; the statuses they get (or the error, once it stopped)."""

    def __init__(self, server: Server, clients: int = 6) -> None:
        self.url, self.stop, self.answers = server.url, threading.Event(), []
        self.threads = [threading.Thread(target=self._ask) for _ in range(clients)]
        for thread in self.threads:
            thread.start()

    def _ask(self) -> None:
        with httpx.Client(timeout=60) as client:
            while not self.stop.is_set():
                try:
                    self.answers.append(client.post(f"{self.url}/predict", json=EMPTY).status_code)
                except httpx.TransportError:
                    self.answers.append("refused")  # the server no longer accepts: it is stopping
                    time.sleep(0.05)

    def statuses(self) -> set:
        self.stop.set()
        for thread in self.threads:
            thread.join()
        return set(self.answers)


def ends_cleanly(server: Server, descendants: Descendants, signum: int, sent: float, phrase: str) -> str:
    """The server ended within seconds with the signal's exit code and one line, leaving no process; its stderr."""
    out, err = server.process.communicate(timeout=90)
    took = time.monotonic() - sent
    assert server.process.returncode == 128 + signum, (server.process.returncode, err[-3000:])
    assert took < WITHIN, f"it took {took:.1f} s to stop"
    lines = [line for line in err.splitlines() if line.strip()]  # no traceback, no warning: its line alone
    assert len(lines) == 1 and lines[0].startswith(f"error: Stopped by {signal.Signals(signum).name} {phrase}"), err
    assert not descendants.alive(), descendants.alive()
    return err


@pytest.mark.parametrize(("phase", "name"), rows(PHASES))
def test_a_signal_in_each_phase_ends_the_server(tiny_run, phase, name):
    signum = SIGNALS[name]
    server = start(tiny_run)
    descendants = Descendants(server)
    try:
        PHASES[phase](server)
        load = Load(server) if phase == "answering under load" else None
        if load:
            time.sleep(1.5)
        sent = time.monotonic()
        server.send(signum)
        ends_cleanly(server, descendants, signum, sent, "")
        if load:
            statuses = load.statuses()
            assert 200 in statuses and statuses <= {200, "refused"}, statuses  # every request taken was answered
    finally:
        if server.process.poll() is None:
            server.process.kill()


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param("SIGINT", "SIGINT", id="two Ctrl-C"),
        pytest.param("SIGTERM", "SIGTERM", id="two SIGTERM", marks=pytest.mark.long),
        pytest.param("SIGTERM", "SIGINT", id="SIGTERM then Ctrl-C", marks=pytest.mark.long),
        pytest.param("SIGINT", "SIGTERM", id="Ctrl-C then SIGTERM", marks=pytest.mark.long),
    ],
)
@pytest.mark.parametrize("holding", [False, True], ids=["idle, 50 ms apart", "during its shutdown"])
def test_a_second_signal_ends_it_at_once(tiny_run, first, second, holding):
    """Idle, the second signal 50 ms after the first; or while its shutdown waits for requests held in a batch."""
    batching = ("--max_batch_size", "8", "--batch_timeout", "10") if holding else ()
    server = start(tiny_run, *batching)
    descendants = Descendants(server)
    try:
        ready(server)
        held = Load(server, clients=3) if holding else None
        time.sleep(1 if holding else 0)  # the requests wait in the worker for a batch of 8
        server.send(SIGNALS[first])
        time.sleep(1 if holding else 0.05)
        sent = time.monotonic()
        server.send(SIGNALS[second])
        ends_cleanly(server, descendants, SIGNALS[second], sent, "(a second signal) at once")
        if held:
            assert held.statuses() == {"refused"}  # not answered: the second signal said so
    finally:
        if server.process.poll() is None:
            server.process.kill()
