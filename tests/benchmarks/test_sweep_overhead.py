"""The sweep overhead benchmark runs a sweep on tiny MNIST files and prints its wall time against the sum of its
trials' training times, which the trials' own results hold. The figures themselves are read, never asserted."""

import re
import subprocess
import sys

import pytest
from helpers.commands import REPO
from helpers.mnist import make_mnist

pytestmark = [pytest.mark.slow, pytest.mark.long]  # a whole sweep: make test-long

SWEEP = """
trainer: {max_epochs: 1, enable_progress_bar: false}
data: {val_size: 100, batch_size: 50, eval_batch_size: 100}
sweep:
  study_name: tiny
  sampler: grid
  pruner: null
  space:
    model.network.cell: [gru, lstm]
"""


def test_it_prints_the_wall_time_the_training_time_and_their_ratio(tmp_path):
    (tmp_path / "tiny.yaml").write_text(SWEEP)
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "sweep_overhead.py"),
            f"--config={tmp_path / 'tiny.yaml'}",
            f"--data-dir={make_mnist(tmp_path / 'data')}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    summary = re.search(r"2 trials of tiny.yaml: ([0-9.]+) s of wall time, ([0-9.]+) s of training\n", result.stdout)
    wall, training = float(summary.group(1)), float(summary.group(2))
    assert 0 < training < wall
    ratio = float(re.search(r"wall time / training time: ([0-9.]+)\n", result.stdout).group(1))
    assert ratio == pytest.approx(wall / training, abs=0.01 + 0.05 * wall / training**2)  # from the rounded seconds
    outside = float(re.search(r"outside training: ([0-9.]+) s a trial", result.stdout).group(1))
    assert outside == pytest.approx((wall - training) / 2, abs=0.06)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["data", "tiny.yaml"]  # its sweep in a temporary folder
