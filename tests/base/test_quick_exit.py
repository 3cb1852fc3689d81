"""An entry point ends as a normal exit would, only sooner: same exit code, output, threads and exit handlers."""

import os
import subprocess
import sys

import pytest
from helpers.commands import REPO

pytestmark = pytest.mark.slow  # each test is a process of its own

SCRIPT = """
import atexit, sys, threading, time
from pathlib import Path
from lit_rnn.base.quick_exit import run_then_exit

folder = Path(sys.argv[1])
atexit.register(lambda: (folder / "atexit").write_text("ran"))

def main():
    def late_writer():
        time.sleep(0.3)
        (folder / "thread").write_text("finished")
    threading.Thread(target=late_writer).start()  # not a daemon: a normal exit waits for it
    sys.stdout.write("no newline, still buffered")
    {ending}

run_then_exit(main)
"""


@pytest.mark.parametrize(
    ("ending", "code", "stderr"),
    [
        ("return 7", 0, ""),
        ("sys.exit(3)", 3, ""),
        ("sys.exit(None)", 0, ""),
        ("sys.exit('error: a message')", 1, "error: a message\n"),
    ],
)
def test_the_process_ends_with_the_code_the_output_the_threads_and_the_exit_handlers_of_a_normal_exit(
    tmp_path, ending, code, stderr
):
    script = tmp_path / "entry.py"
    script.write_text(SCRIPT.format(ending=ending))
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert (result.returncode, result.stdout, result.stderr) == (code, "no newline, still buffered", stderr)
    assert (tmp_path / "thread").read_text() == "finished" and (tmp_path / "atexit").read_text() == "ran"


ENDING = """
import atexit, os, signal, sys
from lit_rnn.base.quick_exit import run_then_exit

atexit.register(lambda: os.kill(os.getpid(), signal.{signal}))  # as the command's last line is out

def main():
    print("the report")
    {ending}

run_then_exit(main)
"""


@pytest.mark.parametrize(("signal", "code"), [("SIGTERM", 143), ("SIGINT", 130)])
@pytest.mark.parametrize("ending", ["return", "sys.exit(2)"])
def test_a_signal_as_the_process_ends_ends_it_with_one_line_and_its_code(tmp_path, signal, code, ending):
    script = tmp_path / "entry.py"
    script.write_text(ENDING.format(signal=signal, ending=ending))
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.stdout == "the report\n"
    if ending == "return":  # the work was done: the signal's own code and line
        assert (result.returncode, result.stderr) == (
            code,
            f"\nerror: Stopped by {signal} as it was ending, its work done: nothing is lost.\n",
        )
    else:  # the command already said how it ended
        assert (result.returncode, result.stderr) == (2, "")
