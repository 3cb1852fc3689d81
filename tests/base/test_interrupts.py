"""Signals at the edges of a phase, in a process of its own: ``lit_rnn.base.interrupts`` alone, without a command's imports."""

import os
import subprocess
import sys

import pytest
from helpers.commands import REPO

pytestmark = pytest.mark.slow  # each test is a process of its own

SECOND_CTRL_C = """
import os, signal
from lit_rnn.base import interrupts
from lit_rnn.base.quick_exit import run_then_exit

def main():
    interrupts.install()
    interrupts.defer()  # training: the first Ctrl-C asks for a stop at the end of the step
    os.kill(os.getpid(), signal.SIGINT)
    write = os.write
    def write_then_ctrl_c(fd, data):  # the second Ctrl-C comes as the stop line is printed
        written = write(fd, data)
        os.kill(os.getpid(), signal.SIGINT)
        return written
    os.write = write_then_ctrl_c
    interrupts.stop(interrupts.requested(), "after step 3; the training so far is saved in recovery.ckpt.")

run_then_exit(main)
"""


def run_script(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_a_second_ctrl_c_as_the_saved_step_is_announced_says_nothing_contrary():
    result = run_script(SECOND_CTRL_C)
    assert result.returncode == 130
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        "error: Stopped by SIGINT after step 3; the training so far is saved in recovery.ckpt."
    ]
    assert "Traceback" not in result.stderr


def test_a_signal_during_the_imports_ends_the_process_there_with_its_start_up_line():
    # An exception raised inside a library's import can be taken for an import error, or swallowed.
    result = run_script(
        "import os, signal\nfrom lit_rnn.base import interrupts\ninterrupts.install()\n"
        "try:\n    os.kill(os.getpid(), signal.SIGTERM)\nexcept BaseException:\n    pass\nprint('went on')"
    )
    assert (result.returncode, result.stdout) == (143, "")
    assert (
        result.stderr
        == f"\nerror: Stopped by SIGTERM {'during start-up, before anything was saved. Run the command again.'}\n"
    )
