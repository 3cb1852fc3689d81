"""Exact resume under every option that shapes an epoch: each cell is a run killed at its epoch boundaries, around its
validations, mid-step and inside a checkpoint write, resumed each time with ``--ckpt_path last``, and compared
with the same run uninterrupted: weights, optimizer, schedule, step count and every logged scalar, bit for bit.

The base run is ``test_exact_resume``'s (``helpers/resume.py``): 3 epochs of 10 steps, two LSTM layers with dropout,
a OneCycleLR schedule over the whole run, a recovery checkpoint every 4 steps.
"""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers.commands import run_module
from helpers.resume import assert_identical, final_state, fit_args, interrupt, scalars

pytestmark = [pytest.mark.slow, pytest.mark.long]  # the kill matrix: make test-long

# cell name -> (the options under test, the kills of the chain in the order they happen)
CELLS = {
    "limit_train_batches": (
        ["--trainer.limit_train_batches=6"],
        [interrupt(6, "epoch"), interrupt(9, "validation"), interrupt(14), interrupt(16, "save")],
    ),
    "val_check_interval": (
        ["--trainer.val_check_interval=4"],
        [
            interrupt(4, "validation"),
            interrupt(9),
            interrupt(10, "epoch"),
            interrupt(16, "save"),
            interrupt(24, "validation"),
        ],
    ),
    "check_val_every_n_epoch": (
        ["--trainer.check_val_every_n_epoch=2", "--trainer.max_epochs=4"],  # a cadence must divide the epochs
        [interrupt(10, "epoch"), interrupt(13), interrupt(20, "validation"), interrupt(24, "save")],
    ),
    "accumulate_grad_batches": (
        ["--trainer.accumulate_grad_batches=3", "--recovery.every_n_steps=2"],
        [interrupt(2), interrupt(4, "epoch"), interrupt(6, "save"), interrupt(8, "validation")],
    ),
    "max_steps": (
        ["--trainer.max_steps=25"],
        [interrupt(10, "epoch"), interrupt(12, "save"), interrupt(20, "validation"), interrupt(23)],
    ),
    "several epochs, with a schedule": (
        ["--trainer.max_epochs=4"],
        [
            interrupt(10, "validation"),
            interrupt(17),
            interrupt(20, "epoch"),
            interrupt(30, "save"),
            interrupt(35, signal_name="TERM"),
        ],
    ),
}


def run_cell(data: Path, root: Path, options: list[str], kills: list[list[str]]) -> tuple[Path, Path, list]:
    (root / "straight").mkdir()
    (root / "killed").mkdir()
    straight = run_module("lit_rnn.fit", fit_args(data, *options), cwd=root / "straight")
    assert straight.returncode == 0, straight.stderr[-3000:]
    results = []
    for number, stop in enumerate([*kills, []]):
        resume = ["--ckpt_path", "last"] if number else []
        results.append(run_module("lit_rnn.fit", fit_args(data, *options, *stop, *resume), cwd=root / "killed"))
    return root / "straight" / "lightning_logs" / "version_0", root / "killed" / "lightning_logs" / "version_0", results


@pytest.fixture(scope="module")
def cells(tiny_mnist, tmp_path_factory):
    with pytest.MonkeyPatch.context() as env, ThreadPoolExecutor(2) as pool:
        env.setenv("OMP_NUM_THREADS", "1")
        jobs = {
            name: pool.submit(run_cell, tiny_mnist, tmp_path_factory.mktemp("cell"), options, kills)
            for name, (options, kills) in CELLS.items()
        }
        return {name: job.result() for name, job in jobs.items()}


@pytest.mark.parametrize("cell", CELLS)
def test_a_run_killed_at_every_kind_of_moment_resumes_bit_identical(cell, cells):
    straight, killed, results = cells[cell]
    *interrupted, finished = results
    assert all(result.returncode != 0 for result in interrupted), [r.stderr[-1500:] for r in interrupted]
    assert finished.returncode == 0, finished.stderr[-3000:]
    expected, actual = final_state(straight), final_state(killed)
    assert (actual["global_step"], actual["epoch"]) == (expected["global_step"], expected["epoch"])
    for key in ("state_dict", "optimizer_states", "lr_schedulers"):
        assert_identical(actual[key], expected[key], key)
    assert scalars(killed) == scalars(straight)
