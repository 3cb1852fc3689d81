"""The machine's own limits met while writing, for real, not faked: a full disk (a small tmpfs) and a file-size limit
(``ulimit -f``). Each ends in one line naming the file and what is kept, exit 1, and no half-written checkpoint."""

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.commands import REPO, tiny_fit_args

from lit_rnn.runs.checkpointing import read_checkpoint

pytestmark = pytest.mark.slow


def fit(workdir: Path, data: Path, limit_bytes: int | None = None, *extra: str) -> subprocess.CompletedProcess:
    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run(
        [
            sys.executable,
            "-m",
            "lit_rnn.fit",
            *tiny_fit_args(data, "--trainer.max_epochs=3", "--recovery.every_n_steps=2", *extra),
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit_file_size if limit_bytes else None,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def error_line(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    return line


def no_partial_files(folder: Path) -> bool:
    return not any(path.name.endswith(".partial") for path in folder.rglob("*"))


@pytest.fixture
def small_disk(tmp_path):
    """A 1.5 MB tmpfs: room for the run's first checkpoints (320 kB each), not for all of them."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1536k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"a tmpfs cannot be mounted here (it needs root): {made.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_real_full_disk_is_one_line_and_keeps_the_checkpoints_written_whole(small_disk, tiny_mnist):
    shutil.copytree(tiny_mnist, small_disk / "data")
    result = fit(small_disk, Path("data"))
    assert result.returncode == 1
    line = error_line(result)
    assert line.startswith("error: The disk is full: writing ") and "No space left on device" in line
    checkpoints = small_disk / "lightning_logs" / "version_0" / "checkpoints"
    saved = [read_checkpoint(path)["global_step"] for path in checkpoints.glob("*.ckpt")]  # each one reads back whole
    assert saved and no_partial_files(small_disk)


def test_a_file_size_limit_is_one_line_naming_the_file_and_a_run_that_saved_nothing_is_removed(tmp_path, tiny_mnist):
    result = fit(tmp_path, tiny_mnist, 100_000)  # below a checkpoint's 320 kB, above the logs' first writes
    assert result.returncode == 1
    line = error_line(result)
    assert line.startswith("error: A file grew past this process's file-size limit: writing ")
    assert "checkpoints" in line and "raise the limit (ulimit -f)" in line
    assert not (tmp_path / "lightning_logs" / "version_0").exists()  # it had saved no checkpoint to resume from
