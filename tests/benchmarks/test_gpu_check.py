"""The GPU check runs whole on a CPU, as it would on a lent GPU: every check gives its figures and none an error."""

import json
import subprocess
import sys

import pytest
from helpers.commands import REPO
from helpers.mnist import make_mnist

pytestmark = pytest.mark.slow  # seven fits and a load test, each a process of its own


def test_the_gpu_check_gives_every_figure_on_a_cpu(tmp_path):
    data = make_mnist(tmp_path / "data", train_count=7_000, test_count=200)  # 2,000 images after validation's 5,000
    command = [sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--data-dir", str(data), "--quick"]
    result = subprocess.run(
        [*command, "--accelerator", "cpu"], cwd=tmp_path, capture_output=True, text=True, timeout=1200
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["device"] == "CPU" and report["quick"] is True
    failed = {name: check["error"] for name, check in report.items() if isinstance(check, dict) and "error" in check}
    assert failed == {}
    assert report["default_fit"]["train_seconds"] > 0 and 0 <= report["default_fit"]["test_acc"] <= 1
    assert report["best"]["reached_0.990"] is (report["best"]["test_acc"] >= 0.990)
    assert report["kill_resume"]["killed_after_step"] > 0 and report["kill_resume"]["weights_identical"] is True
    assert 0 <= report["predict"]["right"] <= 10
    assert any("requests/s" in row for row in report["serve"]["table"])
