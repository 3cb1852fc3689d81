"""Kill a run at many moments, resume each with ``--ckpt_path last``, and count how many end bit-identical.

Not a test (it takes minutes): ``.venv/bin/python tests/kill_sweep.py``. Each moment is its own pair of
real ``python -m lit_rnn.fit`` processes on tiny data, the first stopped from inside by
``tests/helpers/interrupt.py``, compared with one uninterrupted run as ``tests/runs/test_exact_resume.py`` compares them:
final weights, optimizer and schedule state, best checkpoint, and every logged scalar.
"""

import logging
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from helpers.commands import run_module
from helpers.mnist import make_mnist
from helpers.resume import STEPS_PER_EPOCH, assert_identical, final_state, fit_args, interrupt, scalars

EPOCHS = 3
MOMENTS = (
    [(f"SIGKILL as step {step} starts", interrupt(step)) for step in range(EPOCHS * STEPS_PER_EPOCH)]
    + [(f"SIGKILL at the epoch boundary at step {step}", interrupt(step, "epoch")) for step in (10, 20)]
    + [
        (f"SIGKILL halfway through the first write at step >= {step}", interrupt(step, "save"))
        for step in (4, 8, 10, 12, 16, 20, 24, 28, 30)
    ]
    + [(f"SIGTERM during step {step}", interrupt(step, signal_name="TERM")) for step in (5, 19)]
    + [(f"SIGINT during step {step}", interrupt(step, signal_name="INT")) for step in (9, 29)]
)


def differences(expected_run: Path, run: Path) -> list[str]:
    found = []
    expected, actual = final_state(expected_run), final_state(run)
    for key in ("state_dict", "optimizer_states", "lr_schedulers", "global_step"):
        try:
            assert_identical(actual[key], expected[key], key)
        except AssertionError as error:
            found.append(str(error) or key)
    if scalars(run) != scalars(expected_run):
        found.append("logged scalars")
    return found


def try_moment(data: Path, root: Path, number: int, what: str, stop: list[str], expected_run: Path) -> tuple[str, str]:
    workdir = root / f"moment{number:02d}"
    workdir.mkdir()
    first = run_module("lit_rnn.fit", fit_args(data, *stop), cwd=workdir)
    resumed = run_module("lit_rnn.fit", fit_args(data, "--ckpt_path", "last"), cwd=workdir)
    if resumed.returncode != 0:
        return what, f"resume exited {resumed.returncode}: {resumed.stderr.strip().splitlines()[-1]}"
    found = differences(expected_run, workdir / "lightning_logs" / "version_0")
    return what, f"first exited {first.returncode}; " + ("bit-identical" if not found else f"DIFFERS: {found}")


def main() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"  # the same thread count in every process
    logging.getLogger("tensorboard").setLevel(logging.ERROR)  # each purge of a resume is announced
    root = Path(tempfile.mkdtemp(prefix="kill_sweep_"))
    data = make_mnist(root / "data")
    (root / "uninterrupted").mkdir()
    assert run_module("lit_rnn.fit", fit_args(data), cwd=root / "uninterrupted").returncode == 0
    expected_run = root / "uninterrupted" / "lightning_logs" / "version_0"
    with ThreadPoolExecutor(2) as pool:
        outcomes = pool.map(
            lambda job: try_moment(data, root, *job, expected_run),
            [(number, what, stop) for number, (what, stop) in enumerate(MOMENTS)],
        )
        identical = 0
        for what, outcome in outcomes:
            identical += outcome.endswith("bit-identical")
            print(f"{what}: {outcome}", flush=True)
    print(f"{len(MOMENTS)} kill points tried, {identical} ended bit-identical (runs in {root})")


if __name__ == "__main__":
    main()
