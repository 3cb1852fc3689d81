"""A sweep's trials report its objective to the study at every validation, through ``ReportToStudy`` on the trial's
fit command line, and the study's pruner stops the trials behind: on ``val/loss`` with ``direction: minimize``, the
trials whose loss is higher.

The trials here are the sweep's own (its settings, its study, its ``run_trial`` and the command line it builds), with
only the fit process replaced by ``lit_rnn.fit.main`` called in this process on that command line's arguments."""

import sys

import optuna
import pytest
from helpers.commands import tiny_fit_args
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lit_rnn import fit, sweep
from lit_rnn.study.reporting import PRUNED_EXIT_CODE

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
    for _ in range(5):
        study.add_trial(
            optuna.trial.create_trial(
                params={LR: 0.01},
                distributions={LR: CategoricalDistribution([1e-7, 0.01])},
                value=STARTED[20],
                intermediate_values=STARTED,
            )
        )
    for lr in (1e-7, 0.01):
        study.enqueue_trial({LR: lr})
    exit_codes = []
    monkeypatch.setattr(
        sweep,
        "run_fit",
        lambda fits, arguments, run: exit_codes.append(fit_in_this_process(arguments, run)) or exit_codes[-1],
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
