"""The load benchmark runs as the README shows it, briefly: every server answers every request, each answer is the
model's own digit, and the table holds the figures it promises. Its figures are read, never asserted."""

import re
import subprocess
import sys

import pytest
from helpers.commands import REPO

pytestmark = [pytest.mark.slow, pytest.mark.long]  # the load benchmark: make test-long


def test_the_load_benchmark_measures_each_server_against_the_two_limits(tiny_run, tiny_mnist):
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "serve_load.py"), "--data-dir", str(tiny_mnist), "--clients", "8",
         "--seconds", "3", "--servers", "litserve-batched", "plain"],
        cwd=tiny_run, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {row.split(" | ")[0].strip("| "): row for row in result.stdout.splitlines() if row.startswith("| ")}
    assert {
        "model (plain loop, batches of 64)",
        "http (no work: the HTTP stack's limit)",
        "litserve-batched",
        "plain",
    } <= set(rows)
    for server in ("litserve-batched", "plain"):
        answered = re.search(r"\| 0 of ([0-9,]+); [0-9.]+ \(model's own digit: (\d+)/(\d+)\)", rows[server])
        assert answered, rows[server]  # no failure, and an accuracy
        assert int(answered[2]) == int(answered[3]) > 0  # every answer is the model's own digit
