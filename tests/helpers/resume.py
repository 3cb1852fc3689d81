"""The exact-resume run: its arguments, the interruptions that stop it from inside, and how two runs are compared
(final weights, optimizer and schedule state, every logged scalar), bit for bit."""

from pathlib import Path

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from helpers.commands import tiny_fit_args
from lit_rnn.runs.checkpointing import read_checkpoint

STEPS_PER_EPOCH = 10  # 500 training images in batches of 50


def fit_args(data_dir: Path, *extra: str) -> list[str]:
    """A run with dropout (random draws) and a OneCycleLR schedule whose length depends on the number of steps."""
    return tiny_fit_args(
        data_dir,
        "--trainer.max_epochs=3",
        "--trainer.log_every_n_steps=2",
        "--model.network.hidden_size=16",
        "--model.network.num_layers=2",
        "--model.network.dropout=0.3",
        "--model.scheduler=torch.optim.lr_scheduler.OneCycleLR",
        "--model.scheduler.max_lr=0.02",
        "--recovery.every_n_steps=4",
        *extra,
    )


def interrupt(step: int, moment: str = "step", signal_name: str = "KILL") -> list[str]:
    """Fit's arguments that stop its own process at ``step`` (``helpers.interrupt.InterruptAt``)."""
    return [
        "--trainer.callbacks+=helpers.interrupt.InterruptAt",
        f"--trainer.callbacks.step={step}",
        f"--trainer.callbacks.moment={moment}",
        f"--trainer.callbacks.signal={signal_name}",
    ]


def final_state(run: Path) -> dict:
    return read_checkpoint(run / "checkpoints" / "recovery.ckpt")


def assert_identical(a, b, where: str = "") -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_identical(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for index, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f"{where}/{index}")
    else:
        assert a == b, where


def scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    """What TensorBoard shows: every file of the run folder read in order, honouring purge events."""
    events = EventAccumulator(str(run)).Reload()
    return {tag: [(event.step, event.value) for event in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def assert_same_training_state(run, expected_run) -> None:
    """Every tensor and count that training goes on from, in ``last.ckpt`` and ``recovery.ckpt``, as in
    ``expected_run``'s."""
    from lit_rnn.runs.checkpointing import read_checkpoint

    for name in ("last.ckpt", "recovery.ckpt"):
        expected = read_checkpoint(expected_run / "checkpoints" / name)
        actual = read_checkpoint(run / "checkpoints" / name)
        for key in ("state_dict", "optimizer_states", "lr_schedulers", "global_step", "epoch"):
            assert_identical(actual[key], expected[key], f"{name} {key}")
