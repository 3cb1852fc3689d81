"""A sweep's time outside its trials' training: the whole command's wall time against the sum of its trials'
``train_seconds`` (each run's ``results.json``), and what each trial costs beyond its training (the fit's start, its
set-up, its test and report, the worker's bookkeeping; the worker's own start and final report, spread over them).

Usage: python benchmarks/sweep_overhead.py [--config configs/sweeps/cells.yaml] [--data-dir ../shared/data]

Runs ``python -m lit_rnn.sweep --config CONFIG --data.data_dir DATA_DIR`` once, as a user would, in a new temporary
folder (so every trial runs), then prints the figures. The README's Sweeps section quotes them.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # this checkout's lit_rnn, wherever the script is run from

from harness import add_data_dir, check_data_dir

from lit_rnn.runs import results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "sweeps" / "cells.yaml")
    add_data_dir(parser)
    args = parser.parse_args()
    check_data_dir(args.data_dir)
    with tempfile.TemporaryDirectory(prefix="sweep_overhead_") as folder:
        command = [
            sys.executable,
            "-m",
            "lit_rnn.sweep",
            f"--config={args.config.resolve()}",
            f"--data.data_dir={args.data_dir.resolve()}",
        ]
        start = time.perf_counter()
        subprocess.run(
            command, cwd=folder, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(REPO)}
        )
        wall = time.perf_counter() - start
        runs = sorted(Path(folder).glob("sweeps/*/trial_*/version_0"))
        trained = [(results.read(run) or {}).get("train_seconds") for run in runs]
    training = sum(seconds for seconds in trained if seconds is not None)
    unrecorded = (
        f" ({trained.count(None)} pruned or failed: their training counts as outside it)" if None in trained else ""
    )
    print(
        f"{len(trained)} trials of {args.config.name}: {wall:.1f} s of wall time, {training:.1f} s of training{unrecorded}"
    )
    print(f"wall time / training time: {wall / training:.2f}")
    print(f"outside training: {(wall - training) / len(trained):.2f} s a trial")


if __name__ == "__main__":
    main()
