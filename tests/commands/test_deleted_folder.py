"""Every command started in a folder that has been deleted says so in one line, before torch loads (whose oneMKL
would die there with a FATAL ERROR of its own)."""

import os
import subprocess
import sys

import pytest
from helpers.commands import REPO, TESTS

COMMANDS = ("fit", "test", "predict", "export", "serve", "sweep")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_started_in_a_deleted_folder_says_so_in_one_line(command, tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    starter = (
        f"import os, sys; os.chdir({str(gone)!r}); os.rmdir({str(gone)!r}); os.execv(sys.executable, sys.argv[1:])"
    )
    result = subprocess.run(
        [sys.executable, "-c", starter, sys.executable, "-m", f"lit_rnn.{command}", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS)])},
    )
    assert result.returncode == 2 and result.stdout == "", result.stderr
    assert result.stderr.splitlines() == [
        "error: The folder this command was started in has been deleted, so no path relative to it can be read or "
        "written. Change to a folder that exists (cd) and run the command again."
    ]
