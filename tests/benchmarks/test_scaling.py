"""The scaling benchmark's quick grid runs on tiny MNIST files, one and two processes, and writes the table and the
figure it promises, with figures that hold together. The figures themselves are read, never asserted."""

import math
import subprocess
import sys

import pytest
from helpers.commands import REPO
from helpers.mnist import make_mnist
from matplotlib.image import imread

pytestmark = [pytest.mark.slow, pytest.mark.long]  # a dozen processes, several with DDP: make test-long

COLUMNS = [
    "processes",
    "hidden",
    "batch",
    "million multiply-adds per step",
    "timed steps",
    "plain ms/step",
    "fit ms/step",
    "fit epoch s",
    "plain images/s",
    "fit images/s",
    "plain peak MiB",
    "fit peak MiB",
    "Lightning's share",
]


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def test_the_quick_grid_writes_a_table_and_a_figure(tmp_path):
    # 5,000 images are held out for validation, as in the default config: 600 are left to train on
    data_dir = make_mnist(tmp_path / "data", train_count=5600)
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "scaling.py"), "--quick", f"--data-dir={data_dir}", f"--out={out}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "extrapolated from up to 10 timed steps after 3 warm-up steps" in result.stdout
    markdown = (out / "scaling.md").read_text()
    assert markdown in result.stdout  # the table printed is the table written
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    assert _cells(lines[0]) == COLUMNS
    rows = [dict(zip(COLUMNS, _cells(line))) for line in lines[2:]]
    points = [(row["processes"], row["hidden"], row["batch"]) for row in rows]
    assert points == [("1", "32", "64"), ("1", "64", "64"), ("1", "64", "16"), ("2", "64", "64")]
    work = {point: float(row["million multiply-adds per step"]) for point, row in zip(points, rows)}
    assert work[("1", "64", "64")] == pytest.approx(129.5, abs=0.1)  # 3 x 64 images x (28 rows x 24,064 + 650)
    assert work[("1", "32", "64")] < work[("1", "64", "64")] == pytest.approx(4 * work[("1", "64", "16")], abs=0.2)
    assert work[("2", "64", "64")] == work[("1", "64", "64")]  # a batch is the images of a step over the processes
    # The figures agree with each other, within the table's rounding (ms to 0.01, seconds to 0.01, images to 1)
    for row in rows:
        batch, steps = int(row["batch"]), int(row["timed steps"])
        assert steps == min(10, 600 // batch - 3)  # the timed steps stay in the epoch's full batches
        for run in ("plain", "fit"):
            step_ms = float(row[f"{run} ms/step"])
            assert step_ms > 0
            assert float(row[f"{run} images/s"].replace(",", "")) == pytest.approx(
                batch / step_ms * 1e3, rel=0.006 / step_ms, abs=1
            )
            assert 100 < float(row[f"{run} peak MiB"]) < 8000  # a Python process with torch in it, on 600 images
        plain_ms, fit_ms = float(row["plain ms/step"]), float(row["fit ms/step"])
        assert float(row["fit epoch s"]) == pytest.approx(fit_ms * math.ceil(600 / batch) / 1e3, abs=0.006)
        share = float(row["Lightning's share"].rstrip("%")) / 100
        assert share == pytest.approx(1 - plain_ms / fit_ms, abs=0.001 + 0.006 * (1 + plain_ms / fit_ms) / fit_ms)
    figure = imread(out / "scaling.png")
    assert figure.shape[0] > 500 and figure.shape[1] > 500
    assert not (tmp_path / "lightning_logs").exists()  # fit's runs live in a temporary folder of their own
