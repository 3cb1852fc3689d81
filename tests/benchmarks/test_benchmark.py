"""The speed benchmark runs as the README shows it and prints what it promises: three comparable runs, fit's
process split into phases that add up to the whole, and the ratios. Its figures are read, never asserted."""

import re
import subprocess
import sys

import pytest
from helpers.commands import REPO

pytestmark = [pytest.mark.slow, pytest.mark.long]  # the benchmark, run whole once: make test-long

TUTORIAL = REPO.parent / "shared" / "bench" / "seed_baseline.py"


def test_the_benchmark_compares_the_three_runs_and_breaks_fit_into_phases(real_mnist, tmp_path):
    if not TUTORIAL.is_file():
        pytest.skip(f"the tutorial's script is not at {TUTORIAL}")
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "epoch_time.py"),
            "--data-dir",
            str(real_mnist),
            "--repeats",
            "1",
            "--accelerator",
            "cpu",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    medians = result.stdout.split("median of 1:")[1]
    table = medians.split("fit's process")[0]
    rows = {
        line.split()[0]: line.split()
        for line in table.splitlines()
        if line.split()[:1] in (["tutorial"], ["plain"], ["fit"])
    }
    assert set(rows) == {"tutorial", "plain", "fit"}
    assert rows["plain"][6] == rows["fit"][6]  # the same work: the same test accuracy to the last digit
    phases = dict(
        re.findall(r"^  (start-up|set-up|training|validation|test|report)\s+([\d.]+)$", medians, re.MULTILINE)
    )
    assert list(phases) == ["start-up", "set-up", "training", "validation", "test", "report"]
    assert all(float(seconds) > 0 for seconds in phases.values())
    assert sum(map(float, phases.values())) == pytest.approx(float(rows["fit"][7]), abs=0.05)  # the whole process
    for ratio in (
        "fit epoch / tutorial (time)",
        "fit epoch / plain loop (time)",
        "fit command / tutorial script (processes)",
    ):
        assert re.search(rf"^  {re.escape(ratio)}\s+\d+\.\d{{3}}", result.stdout, re.MULTILINE), ratio
    assert not list(tmp_path.iterdir())  # its runs live in a temporary folder of their own


def test_the_step_overhead_benchmark_prints_lightnings_work_per_step(real_mnist, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "step_overhead.py"),
            "--data-dir",
            str(real_mnist),
            "--steps",
            "60",
            "--repeats",
            "2",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split() for line in result.stdout.splitlines()[2:4]]
    assert len(rows) == 2 and all(
        len(row) == 3 and float(row[2]) == pytest.approx(float(row[1]) - float(row[0]), abs=2e-3) for row in rows
    )
    median = re.search(r"Lightning's own work per training step, median of 2: (\d+\.\d{3}) ms", result.stdout)
    assert median and float(median.group(1)) > 0  # fit does more than the plain loop it is compared with
    assert not list(tmp_path.iterdir())
