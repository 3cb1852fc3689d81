"""Time to accuracy: ``TimeToTarget`` logs the training seconds to the first validation that reached its target, in
the run's results and its TensorBoard curves, counts on over a resume, and a sweep can minimize it."""

import json
import sys
from types import SimpleNamespace

import pytest
import torch
from helpers.commands import tiny_fit_args
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lit_rnn import fit
from lit_rnn.base.errors import ConfigError
from lit_rnn.logs.time_to_target import METRIC, TimeToTarget

CALLBACK = "--trainer.callbacks+=lit_rnn.logs.time_to_target.TimeToTarget"


class Validations:
    """A stand-in for the module and trainer at the end of each validation: the accuracy given, the values logged."""

    def __init__(self) -> None:
        self.logged: list[float | None] = []
        self.trainer = SimpleNamespace(sanity_checking=False)

    def validate(self, callback: TimeToTarget, accuracy: float) -> None:
        logged = []
        module = SimpleNamespace(
            val_acc=SimpleNamespace(compute=lambda: torch.tensor(accuracy)),
            log=lambda name, value, **options: logged.append((name, float(value))),
        )
        callback.on_validation_epoch_end(self.trainer, module)
        assert [name for name, _ in logged] in ([], [METRIC])
        self.logged.append(logged[0][1] if logged else None)


class Clock:
    """``time.perf_counter`` at the seconds the test sets."""

    def __init__(self, monkeypatch) -> None:
        self.now = 0.0
        monkeypatch.setattr("lit_rnn.logs.time_to_target.time.perf_counter", lambda: self.now)


def test_the_seconds_to_the_first_validation_at_the_target_are_logged_from_then_on(monkeypatch):
    clock, callback, run = Clock(monkeypatch), TimeToTarget(target=0.98), Validations()
    clock.now = 100.0
    callback.on_train_start(run.trainer, None)
    for clock.now, accuracy in ((103.0, 0.95), (105.5, 0.985), (109.0, 0.97), (112.0, 0.99)):
        run.validate(callback, accuracy)
    # Infinity until it is reached, so that a monitor finds it at every validation; then not the later, better
    # validation, and not un-reached by a worse one.
    assert run.logged == [float("inf"), 5.5, 5.5, 5.5]


def test_a_resumed_run_counts_on_from_its_checkpoints_seconds(monkeypatch):
    clock, first, run = Clock(monkeypatch), TimeToTarget(target=0.99), Validations()
    clock.now = 10.0
    first.on_train_start(run.trainer, None)
    clock.now = 14.0
    state = first.state_dict()  # a checkpoint 4 s into training, before the target
    resumed = TimeToTarget(target=0.99)
    resumed.load_state_dict(state)
    clock.now = 500.0
    resumed.on_train_start(run.trainer, None)  # the new process starts its clock
    clock.now = 502.0
    run.validate(resumed, 0.995)
    assert run.logged == [6.0]  # 4 s before the checkpoint, 2 s after the resume


def test_the_sanity_check_is_not_a_validation_of_training():
    callback, run = TimeToTarget(target=0.5), Validations()
    run.trainer.sanity_checking = True
    run.validate(callback, 1.0)
    assert run.logged == [None] and callback.reached_at is None


@pytest.mark.parametrize("target", [0, -0.5, 1.01, float("nan"), True, "0.99"])
def test_a_target_that_is_no_accuracy_is_refused(target):
    with pytest.raises(ConfigError, match=r"--trainer.callbacks.init_args.target is .*, but it must be an accuracy"):
        TimeToTarget(target=target)


def test_a_fit_logs_it_in_its_results_and_curves(tiny_mnist, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lit_rnn.fit"])
    fit.main(tiny_fit_args(tiny_mnist, CALLBACK, "--trainer.callbacks.target=0.01"))  # reached at once
    run = tmp_path / "lightning_logs" / "version_0"
    results = json.loads((run / "results.json").read_text())
    seconds = results["metrics"][METRIC]
    assert 0 < seconds < results["train_seconds"]
    curve = EventAccumulator(str(run)).Reload().Scalars(METRIC)
    assert [event.value for event in curve] == pytest.approx([seconds] * 2)  # both epochs' validations
