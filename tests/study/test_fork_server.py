"""The fork server's seam: a run forked from it is ``python -m MODULE`` in all the worker relies on (its argv,
``__main__``, environment and output file; its exit code and recorded error; a signal sent to it, however early),
and a SIGTERM to the whole process group leaves the server waiting for its run, which saves, as a fresh one would."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers.commands import REPO, TESTS
from helpers.entry_probe import PROBED, USER_ERROR

from lit_rnn.base import child_errors
from lit_rnn.base.errors import ConfigError
from lit_rnn.study.fork_server import ForkedProcess, ForkServer, ServerGone

PROBE = "helpers.entry_probe"


@pytest.fixture(scope="module")
def server():
    """One server for the module's tests, its runs one after another, as a sweep's worker has them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), str(TESTS)]))
        with ForkServer([PROBE]) as server:
            yield server


def run(server: ForkServer, log: Path, *args: str, env: dict[str, str] | None = None) -> ForkedProcess:
    with open(log, "a") as output, server.start(PROBE, list(args), env or os.environ, output) as process:
        process.wait(timeout=60)
    return process


def wait_for(log: Path, text: str) -> None:
    deadline = time.monotonic() + 60
    while text not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, f"{text!r} never came in {log}"
        time.sleep(0.02)


def test_a_forked_run_is_the_module_as_main_with_its_argv_its_environment_and_its_output(server, tmp_path):
    log = tmp_path / "fit.log"
    log.write_text("before\n")
    process = run(server, log, "report", env={**os.environ, PROBED: "trial 3"})
    assert process.returncode == 0
    before, line = log.read_text().splitlines()
    facts = json.loads(line)
    assert before == "before"  # appended to, as the worker's log
    assert facts["argv"] == [str(TESTS / "helpers" / "entry_probe.py"), "report"]  # as python -m gives them
    assert (facts["main"], facts["main_name"]) == (PROBE, "__main__")
    assert facts["probed"] == "trial 3" and facts["pid"] == process.pid != os.getpid()


def test_the_runs_exit_code_and_its_recorded_error_come_back_by_its_pid(server, tmp_path):
    assert run(server, tmp_path / "fit.log", "exit", "7").returncode == 7
    errors = child_errors.records_folder()
    process = run(server, tmp_path / "fit.log", "user-error", env=child_errors.environment(errors))
    assert process.returncode == ConfigError.exit_code
    error = child_errors.recorded(errors, process.pid)
    assert isinstance(error, ConfigError) and str(error) == USER_ERROR
    assert f"error: {USER_ERROR}" in (tmp_path / "fit.log").read_text()


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_a_signal_sent_as_the_run_starts_reaches_its_own_handler(name, server, tmp_path):
    """Sent at once, the signal finds the run anywhere between the fork and its first line: it waits, blocked, for
    the run's handlers (which end it with 128 + the signal's number), never the default action (minus the number)."""
    log = tmp_path / "fit.log"
    signum = signal.Signals[name]
    with open(log, "a") as output, server.start(PROBE, ["wait"], os.environ, output) as process:
        process.send_signal(signum)
    assert process.returncode == 128 + signum
    assert f"error: Stopped by {name} during start-up" in log.read_text()


def test_a_sigterm_to_the_whole_process_group_leaves_the_server_waiting_for_its_run(server, tmp_path):
    """A scheduler's SIGTERM reaches every process of the job: the run stops as it chooses, and the server, still
    there, says how; multiprocessing's forkserver would die and report 255 at once."""
    log = tmp_path / "fit.log"
    with open(log, "a") as output, server.start(PROBE, ["wait"], os.environ, output) as process:
        wait_for(log, "waiting")
        os.kill(server._server.pid, signal.SIGTERM)  # the server alone: this test's process is of the same group
        process.send_signal(signal.SIGTERM)
    assert process.returncode == 128 + signal.SIGTERM
    assert run(server, log, "exit", "0").returncode == 0  # and serves the next run


def test_a_run_still_running_after_the_timeout_is_said_so(server, tmp_path):
    with open(tmp_path / "fit.log", "a") as output, server.start(PROBE, ["wait"], os.environ, output) as process:
        wait_for(tmp_path / "fit.log", "waiting")
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=0.1)
        process.send_signal(signal.SIGINT)
    assert process.returncode == 128 + signal.SIGINT


@pytest.mark.slow
def test_a_forked_run_has_torchs_threads_as_a_fresh_process_has(tmp_path, monkeypatch):
    """torch imported in the server, as fit's imports do, then used in the forked run: the same thread count as in a
    fresh process, its pool working (a pool broken by the fork would hang or fall back to one thread)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), str(TESTS)]))
    with ForkServer(["torch", PROBE]) as server:
        assert run(server, tmp_path / "fit.log", "report", "torch").returncode == 0
    forked = json.loads((tmp_path / "fit.log").read_text())
    fresh = subprocess.run(
        [sys.executable, "-m", PROBE, "report", "torch"], capture_output=True, text=True, check=True, timeout=300
    )
    assert forked["threads"] == json.loads(fresh.stdout)["threads"]


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead and not yet reaped by its parent, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_until_gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not alive(pid)


def test_a_run_has_a_process_group_of_its_own_so_a_signal_to_the_workers_group_reaches_it_once(server, tmp_path):
    """Issue 31: a terminal's Ctrl-C reached the run from the terminal and again from the worker, which passes it on;
    the run took the second for a second Ctrl-C, which stops at once, unsaved."""
    log = tmp_path / "fit.log"
    with open(log, "a") as output, server.start(PROBE, ["wait"], os.environ, output) as process:
        wait_for(log, "waiting")
        assert os.getpgid(process.pid) == process.pid != os.getpgid(0)
        assert os.getpgid(server._server.pid) == os.getpgid(0)
        process.send_signal(signal.SIGINT)
    assert process.returncode == 128 + signal.SIGINT
    assert log.read_text().count("SIGINT") == 1


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGSEGV])
def test_a_run_ends_with_its_server_and_the_worker_is_told_the_server_is_gone(stop, tmp_path, monkeypatch):
    """Issue 31: a server killed left its run going on, and its worker ended in 'this is a bug'."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), str(TESTS)]))
    log = tmp_path / "fit.log"
    with ForkServer([PROBE]) as server, open(log, "a") as output:
        process = server.start(PROBE, ["wait"], os.environ, output)
        wait_for(log, "waiting")
        os.kill(server._server.pid, stop)
        with pytest.raises(ServerGone):
            process.wait(timeout=30)
        assert wait_until_gone(process.pid)


WORKER = """
import os, sys, time
from lit_rnn.study.fork_server import ForkServer
server = ForkServer(["helpers.entry_probe"])
with open(sys.argv[1], "a") as output:
    process = server.start("helpers.entry_probe", ["wait"], os.environ, output)
print(server._server.pid, process.pid, flush=True)
time.sleep(60)
"""


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM])
def test_the_server_and_its_run_end_with_their_worker_however_it_ends(stop, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), str(TESTS)]))
    log = tmp_path / "fit.log"
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(log)], stdout=subprocess.PIPE, text=True)
    server_pid, run_pid = map(int, worker.stdout.readline().split())
    wait_for(log, "waiting")
    worker.send_signal(stop)  # the worker alone: a SIGTERM it does not handle ends it, as a SIGKILL does
    worker.wait(timeout=30)
    assert wait_until_gone(server_pid) and wait_until_gone(run_pid)


@pytest.mark.slow
def test_a_server_killed_while_it_imports_is_said_gone(tmp_path, monkeypatch):
    """Issue 31: the worker, waiting for the run's pid, read a reset connection and ended in 'this is a bug'."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), str(TESTS)]))
    server = ForkServer(["torch", PROBE])  # torch takes seconds to import

    def kill_it_as_it_imports() -> None:
        while server._server is None:
            time.sleep(0.01)
        time.sleep(0.3)
        server._server.kill()

    killer = threading.Thread(target=kill_it_as_it_imports)
    killer.start()
    with server, open(tmp_path / "fit.log", "a") as output, pytest.raises(ServerGone):
        server.start(PROBE, ["exit", "0"], os.environ, output)
    killer.join()
