"""The flags Lightning users bring from its docs and from lightning-hydra-template's tests: each one runs as it does in
Lightning, counted batch by batch, or is refused with one ``error:`` line and exit 2.

The data: 200 training images in 4 batches of 50, 500 validation images and 400 test images in batches of 25 (20
and 16 batches), so that a tenth of the validation set is 2 batches, as it is of MNIST's in batches of 250, and a
hundredth of the training set is less than one batch, which Lightning refuses.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from helpers.commands import run_module, tiny_fit_args
from helpers.mnist import make_mnist

from lit_rnn.fit import main

DATA = [
    "--data.val_size=500",
    "--data.batch_size=50",
    "--data.eval_batch_size=25",
    "--trainer.max_epochs=1",
    "--trainer.accelerator=cpu",
    "--trainer.callbacks+=helpers.probes.CountBatches",
    "--trainer.callbacks.out_dir=counts",
]
TEST_IMAGES = 400
TEMPLATE = ["--trainer.limit_train_batches=0.01", "--trainer.limit_val_batches=0.1", "--trainer.limit_test_batches=0.1"]


@dataclass
class Habit:
    name: str
    args: list[str]
    counts: dict[str, int] | None = None  # batches trained, sanity-checked, validated, tested; optimizer steps
    refusal: str | None = None  # else the error line must hold this


def counts(train: int = 4, sanity: int = 2, val: int = 20, test: int = 16, steps: int | None = None) -> dict[str, int]:
    return {
        "train_batches": train,
        "sanity_batches": sanity,
        "val_batches": val,
        "test_batches": test,
        "steps": train if steps is None else steps,
    }


HABITS = [
    Habit("nothing added", [], counts()),
    Habit(
        "the template's fractions, the training one below one batch",
        TEMPLATE,
        refusal="You requested to check 0.01 of the `train_dataloader` but 0.01 * 4 < 1",
    ),
    Habit("the template's evaluation fractions", TEMPLATE[1:], counts(val=2, test=1)),
    Habit(
        "fractions of several batches, rounded down",
        ["--trainer.limit_train_batches=0.5", "--trainer.limit_val_batches=0.5", "--trainer.limit_test_batches=0.5"],
        counts(2, 2, 10, 8),
    ),
    Habit(
        "whole numbers of batches",
        ["--trainer.limit_train_batches=3", "--trainer.limit_val_batches=2", "--trainer.limit_test_batches=3"],
        counts(3, 2, 2, 3),
    ),
    Habit(
        "a fraction below one batch",
        ["--trainer.limit_val_batches=0.001"],
        refusal="You requested to check 0.001 of the `val_dataloader` but 0.001 * 20 < 1",
    ),
    Habit("1: one batch, as in Lightning", ["--trainer.limit_val_batches=1"], counts(val=1, sanity=1)),
    Habit("no validation", ["--trainer.limit_val_batches=0"], counts(sanity=0, val=0)),
    Habit("validating every half epoch", ["--trainer.val_check_interval=0.5"], counts(val=40)),
    Habit("validating every 2 batches", ["--trainer.val_check_interval=2"], counts(val=40)),
    Habit(
        "validating every second epoch",
        ["--trainer.check_val_every_n_epoch=2", "--trainer.max_epochs=4"],
        counts(train=16, val=40, steps=16),
    ),
    Habit(
        "validating every second epoch of three, the last never",
        ["--trainer.check_val_every_n_epoch=2", "--trainer.max_epochs=3"],
        refusal="--trainer.check_val_every_n_epoch is 2, but it must be a divisor of --trainer.max_epochs (3)",
    ),
    Habit("accumulating gradients", ["--trainer.accumulate_grad_batches=2"], counts(steps=2)),
    Habit("fast_dev_run true", ["--trainer.fast_dev_run=true"], counts(1, 0, 1, 1)),
    Habit("fast_dev_run 3", ["--trainer.fast_dev_run=3"], counts(3, 0, 3, 3)),
    Habit("overfitting 2 batches", ["--trainer.overfit_batches=2"], counts(2, 2, 2)),
    Habit("overfitting a fraction", ["--trainer.overfit_batches=0.5"], counts(2, 2, 10)),
    Habit("the whole sanity check", ["--trainer.num_sanity_val_steps=-1"], counts(sanity=20)),
    Habit("anomaly detection", ["--trainer.detect_anomaly=true"], counts()),
    Habit("simple profiler", ["--trainer.profiler=simple"], counts()),
    Habit("advanced profiler", ["--trainer.profiler=advanced"], counts()),
    Habit("pytorch profiler", ["--trainer.profiler=pytorch"], counts()),
    Habit("no logger", ["--trainer.logger=false"], counts()),
    Habit("deterministic", ["--trainer.deterministic=true"], counts()),
    Habit("gradient clipping", ["--trainer.gradient_clip_val=0.5"], counts()),
    Habit(
        "early stopping on a logged metric",
        ["--trainer.callbacks+=lightning.pytorch.callbacks.EarlyStopping", "--trainer.callbacks.monitor=val/loss"],
        counts(),
    ),
    Habit(
        "early stopping on one class's accuracy",
        [
            "--trainer.callbacks+=lightning.pytorch.callbacks.EarlyStopping",
            "--trainer.callbacks.monitor=val_per_digit/acc_3",
            "--trainer.callbacks.mode=max",
        ],
        counts(),
    ),
    Habit("best checkpoints by one class's accuracy", ["--checkpoint.monitor=val_per_digit/acc_7"], counts()),
    Habit(
        "best checkpoints by the time to a target",
        [
            "--trainer.callbacks+=lit_rnn.logs.time_to_target.TimeToTarget",
            "--trainer.callbacks.target=0.5",
            "--checkpoint.monitor=val/seconds_to_target",
            "--checkpoint.mode=min",
        ],
        counts(),
    ),
    Habit(
        "best checkpoints by the time to a target, without the callback that times it",
        ["--checkpoint.monitor=val/seconds_to_target", "--checkpoint.mode=min"],
        refusal="--checkpoint.monitor watches val/seconds_to_target, which only a TimeToTarget callback logs",
    ),
    Habit(
        "ddp_spawn",
        ["--trainer.strategy=ddp_spawn", "--trainer.devices=2"],
        refusal="--trainer.strategy is 'ddp_spawn', but it must be ddp for several processes",
    ),
    Habit(
        "ddp_fork",
        ["--trainer.strategy=ddp_fork", "--trainer.devices=2"],
        refusal="--trainer.strategy is 'ddp_fork', but it must be ddp for several processes",
    ),
    Habit("barebones", ["--trainer.barebones=true"], refusal="--trainer.barebones is True, but it must be false"),
    Habit(
        "16-bit mixed precision on a CPU",
        ["--trainer.precision=16-mixed"],
        refusal="--trainer.precision is '16-mixed', which cannot train here: Lightning trains 16-mixed as bf16-mixed",
    ),
    Habit(
        "16-bit precision on a CPU",
        ["--trainer.precision=16-true"],
        refusal="--trainer.precision is '16-true', which cannot train here: 16-true keeps the weights",
    ),
]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_mnist(tmp_path_factory.mktemp("habits") / "data", train_count=700, test_count=TEST_IMAGES)


def images_tested(stdout: str) -> int:
    """How many test images fit says it tested."""
    found = re.search(r"Test accuracy on (?:([0-9,]+) of )?the ([0-9,]+) MNIST test images", stdout)
    return int((found.group(1) or found.group(2)).replace(",", ""))


# The default suite runs these; the rest are slow (each is a fit of a few seconds).
QUICK = (
    "the template's fractions, the training one below one batch",
    "the template's evaluation fractions",
    "fast_dev_run true",
    "ddp_spawn",
    "validating every second epoch of three, the last never",
)


@pytest.mark.parametrize(
    "habit",
    [pytest.param(habit, id=habit.name, marks=() if habit.name in QUICK else pytest.mark.slow) for habit in HABITS],
)
def test_a_lightning_habit_runs_as_in_lightning_or_is_one_error_line(habit, data, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        main(tiny_fit_args(data, *DATA, *habit.args))
        code = 0
    except SystemExit as exit:
        code = exit.code
    finally:
        torch.use_deterministic_algorithms(deterministic)
    out, err = capsys.readouterr()
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    if habit.refusal:
        assert code == 2 and len(errors) == 1 and habit.refusal in errors[0], (code, err[-2000:])
        return
    assert code == 0 and errors == [], err[-2000:]
    ran = json.loads((tmp_path / "counts" / "rank0.json").read_text())
    assert {key: ran[key] for key in habit.counts} == habit.counts
    assert images_tested(out) == ran["test_images"]


@pytest.mark.slow
def test_fractions_are_of_each_processs_share_of_the_batches(data, tmp_path):
    fractions = ["--trainer.limit_val_batches=0.1", "--trainer.limit_test_batches=0.25"]
    args = [*DATA, *fractions, "--trainer.val_check_interval=0.5", "--trainer.strategy=ddp", "--trainer.devices=2"]
    result = run_module("lit_rnn.fit", tiny_fit_args(data, *args), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    for rank in (0, 1):  # each process: 2 training batches, 10 validation batches, 8 test batches; a share of each
        ran = json.loads((tmp_path / "counts" / f"rank{rank}.json").read_text())
        assert ran == {
            "train_batches": 2,
            "train_images": 100,
            "sanity_batches": 1,
            "sanity_images": 25,
            "val_batches": 2,  # one batch at each of the two validations
            "val_images": 50,
            "test_batches": 2,
            "test_images": 50,
            "steps": 2,
        }
    assert images_tested(result.stdout) == 100
