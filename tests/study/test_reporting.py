"""A sweep's trials report its objective to the study at every validation, through ``ReportToStudy`` on the trial's
fit command line, and the study's pruner stops the trials behind: on ``val/loss`` with ``direction: minimize``, the
trials whose loss is higher.

The trials here are the sweep's own (its settings, its study, its ``run_trial`` and the command line it builds), with
only the fit process replaced by ``lit_rnn.fit.main`` called in this process on that command line's arguments."""

import sys
import warnings
from types import SimpleNamespace

import optuna
import pytest
import torch
from helpers.commands import tiny_fit_args
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lit_rnn import fit, sweep
from lit_rnn.study.reporting import PRUNED_EXIT_CODE, ReportToStudy, TrialPruned

LR = "model.optimizer.init_args.lr"
LOSS_SWEEP = f"""
sweep:
  study_name: loss
  sampler: random
  trials: 2
  objective: val/loss
  direction: minimize
  pruner: median
  space:
    {LR}: [1.0e-7, 0.01]
"""
# Five finished trials, the median pruner's start-up trials, at val/loss 2.4 after the first epoch of the tiny run (step
# 10) and 2.1 after the second (step 20). A trial that learns nothing (lr 1e-7: about 2.31 at both) is behind them
# after the second and is pruned; one that learns (lr 0.01: about 2.30, then 1.73) is not. Were val/acc_best reported
# instead (issue 19), about 0.1 to 0.6 and so below both, neither would be.
STARTED = {10: 2.4, 20: 2.1}


def fit_in_this_process(arguments: list[str], run) -> tuple[int, Exception | None]:
    """The trial's fit, as ``run_fit`` runs it, but here: its exit code (and no error record: fit says it here)."""
    try:
        fit.main(arguments)
    except SystemExit as exit_info:
        return exit_info.code, None
    return 0, None


def logged_losses(run) -> dict[int, float]:
    return {event.step: event.value for event in EventAccumulator(str(run)).Reload().Scalars("val/loss")}


def add_finished_trials(study: optuna.Study) -> None:
    """Five finished trials whose losses at each step the pruner compares a running one's with."""
    for _ in range(5):
        study.add_trial(
            optuna.trial.create_trial(
                params={LR: 0.01},
                distributions={LR: CategoricalDistribution([1e-7, 0.01])},
                value=STARTED[20],
                intermediate_values=STARTED,
            )
        )


def test_a_sweep_minimizing_val_loss_reports_it_at_every_validation_and_prunes_the_trials_with_the_higher_loss(
    tiny_mnist, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lit_rnn.sweep"])
    (tmp_path / "loss.yaml").write_text(LOSS_SWEEP)
    cli = sweep.SweepCLI(args=["--config=loss.yaml", *tiny_fit_args(tiny_mnist)])  # 2 epochs of 10 steps
    worker = sweep.Sweep(cli, sweep.SweepSettings(**cli.config.sweep))
    study = worker.open_study()
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    add_finished_trials(study)
    for lr in (1e-7, 0.01):
        study.enqueue_trial({LR: lr})
    exit_codes = []
    monkeypatch.setattr(
        sweep,
        "run_fit",
        lambda fits, arguments, run, trial: exit_codes.append(fit_in_this_process(arguments, run)) or exit_codes[-1],
    )

    study.optimize(lambda trial: worker.run_trial(trial, fits=None), n_trials=2, catch=(sweep.TrialFailed,))

    hopeless, learning = study.get_trials()[5:]
    assert (hopeless.params[LR], learning.params[LR]) == (1e-7, 0.01)
    assert [code for code, _ in exit_codes] == [PRUNED_EXIT_CODE, 0]
    assert (hopeless.state, learning.state) == (TrialState.PRUNED, TrialState.COMPLETE)
    for trial in (hopeless, learning):
        logged = logged_losses(worker.settings.folder / f"trial_{trial.number}" / "version_0")
        reported = dict(sorted(trial.intermediate_values.items()))
        # Every validation, reported at the optimizer steps done; Lightning logs it at the index of its last step.
        assert list(reported) == [step + 1 for step in sorted(logged)] == [10, 20]
        assert list(reported.values()) == pytest.approx([logged[step] for step in sorted(logged)])  # val/loss itself
        behind = reported[20] > STARTED[20]  # the median of the others at that step
        assert behind == (trial.state == TrialState.PRUNED)
    assert learning.value == pytest.approx(learning.intermediate_values[20])  # the objective: its last val/loss
    assert "The study's pruner stopped this trial after step 20: its val/loss" in capsys.readouterr().err


def trainer_at(step: int, loss: float) -> SimpleNamespace:
    """What ``ReportToStudy`` reads of Lightning's Trainer after a validation."""
    return SimpleNamespace(
        callback_metrics={"val/loss": torch.tensor(loss)}, sanity_checking=False, is_global_zero=True, global_step=step
    )


@pytest.mark.parametrize(
    "reports, pruned_at",
    [
        ([(10, 2.3), (20, 2.0)], None),  # ahead of the others' median at each step
        ([(10, 2.3), (20, 2.2)], 20),  # behind at the second
        ([(10, 2.5)], 10),  # behind at once
        ([(10, 2.3), (10, 2.9), (20, 2.0)], None),  # a resumed run validates step 10 again: its first value stays
    ],
)
def test_the_callback_reports_through_the_storage_and_asks_the_studys_pruner(reports, pruned_at, tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="loss", storage=storage, direction="minimize")
    add_finished_trials(study)
    running = study.ask()
    callback = ReportToStudy(storage, "loss", running.number, objective="val/loss")
    stopped_at = None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even Optuna's warning of a step reported twice
        for step, loss in reports:
            try:
                callback.on_validation_end(trainer_at(step, loss), None)
            except TrialPruned:
                stopped_at = step
                break
    assert stopped_at == pruned_at
    reported = study.get_trials()[running.number].intermediate_values
    first = {}
    for step, loss in reports[: [s for s, _ in reports].index(stopped_at) + 1 if stopped_at else None]:
        first.setdefault(step, loss)
    assert reported == pytest.approx(first)
