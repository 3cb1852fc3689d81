"""A sweep's report: a line per trial, the table of all trials, the mean and spread over seeds of each setting, the
best trial's config file and how to run it again; and a study of which no trial completed, as an error."""

import math
import re

import optuna
import pytest
import yaml
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from lit_rnn.study.report import NoTrialCompleted, print_cells, report, trial_line

CELL, SEED = "model.network.cell", "seed_everything"
DISTRIBUTIONS = {CELL: CategoricalDistribution(["gru", "lstm"]), SEED: CategoricalDistribution([1, 2])}


def trial(
    cell: str, seed: int, value: float | None, state=TrialState.COMPLETE, **user_attrs
) -> optuna.trial.FrozenTrial:
    return create_trial(
        params={CELL: cell, SEED: seed},
        distributions=DISTRIBUTIONS,
        value=value,
        state=state,
        user_attrs=user_attrs,
    )


def study_of(*trials: optuna.trial.FrozenTrial, direction: str = "maximize") -> optuna.Study:
    study = optuna.create_study(direction=direction)
    study.add_trials(trials)
    return study


def test_a_trial_line_names_its_settings_result_state_time_and_the_best_so_far():
    study = study_of(
        trial("gru", 1, 0.91, train_seconds=12.34),
        trial("lstm", 1, None, TrialState.FAIL, error="Training diverged at step 1"),
        trial("lstm", 2, 0.95),
    )
    first, failed, best = study.get_trials()
    assert trial_line(study, first, "val/acc_best") == (
        "trial 0: model.network.cell=gru seed_everything=1: val/acc_best 0.9100 (complete, 12.3 s); "
        "best so far: trial 2 (0.9500)"
    )
    assert trial_line(study, failed, "val/acc_best") == (
        "trial 1: model.network.cell=lstm seed_everything=1: Training diverged at step 1 (fail); best so far: trial 2 (0.9500)"
    )
    assert trial_line(study, best, "val/acc_best").endswith(
        ": val/acc_best 0.9500 (complete); best so far: trial 2 (0.9500)"
    )


def test_the_best_so_far_follows_the_direction_and_before_any_trial_completes_says_so():
    minimizing = study_of(trial("gru", 1, 0.4), trial("lstm", 1, 0.3), direction="minimize")
    assert trial_line(minimizing, minimizing.trials[0], "val/loss").endswith(
        ": val/loss 0.4000 (complete); best so far: trial 1 (0.3000)"
    )
    pruned = study_of(trial("gru", 1, None, TrialState.PRUNED))
    assert trial_line(pruned, pruned.trials[0], "val/loss") == (
        "trial 0: model.network.cell=gru seed_everything=1:  (pruned); no trial complete yet"
    )


def test_each_setting_gets_the_mean_and_spread_of_its_test_accuracy_over_the_seeds(capsys):
    print_cells(
        [
            trial("gru", 1, 0.9, **{"test/acc": 0.80, "train_seconds": 10.0}),
            trial("gru", 2, 0.9, **{"test/acc": 0.90, "train_seconds": 20.0}),
            trial("lstm", 1, 0.9, **{"test/acc": 0.95, "train_seconds": 30.0}),
        ]
    )
    assert capsys.readouterr().out.splitlines() == [
        "",
        "Per setting, over the seeds:",
        f"  model.network.cell=gru: test/acc 0.8500 ± {math.sqrt(0.005):.4f} over 2 seeds, training 15.0 s on average",
        "  model.network.cell=lstm: test/acc 0.9500 ± 0.0000 over 1 seed, training 30.0 s on average",
    ]


@pytest.fixture
def finished(tmp_path):
    study = study_of(
        trial("gru", 1, 0.90, **{"test/acc": 0.89, "train_seconds": 1.0}),
        trial("gru", 2, 0.92, **{"test/acc": 0.91, "train_seconds": 1.0}),
        trial("lstm", 1, 0.97, **{"test/acc": 0.96, "train_seconds": 2.0}),
        trial("lstm", 2, None, TrialState.FAIL, error="fit exited with -9"),
    )
    return study, tmp_path


def test_the_report_lists_every_trial_the_seeds_spread_and_writes_the_best_trials_config(finished, capsys):
    study, folder = finished
    report(study, folder, "val/acc_best", {CELL: ["gru", "lstm"], SEED: [1, 2]}, lambda params: {"given": params})
    out = capsys.readouterr().out
    assert f"\n4 trials in {folder}:\n" in out
    table = re.findall(r"^  trial \d: .*$", out, re.M)
    assert table == [
        "  trial 0: model.network.cell=gru seed_everything=1: val/acc_best 0.9000 (complete, 1.0 s)",
        "  trial 1: model.network.cell=gru seed_everything=2: val/acc_best 0.9200 (complete, 1.0 s)",
        "  trial 2: model.network.cell=lstm seed_everything=1: val/acc_best 0.9700 (complete, 2.0 s)",
        "  trial 3: model.network.cell=lstm seed_everything=2: fit exited with -9 (fail)",
    ]
    assert "  model.network.cell=gru: test/acc 0.9000 ± 0.0141 over 2 seeds, training 1.0 s on average" in out
    assert yaml.safe_load((folder / "best.yaml").read_text()) == {"given": {CELL: "lstm", SEED: 1}}
    assert (
        f"Best: trial 2, val/acc_best 0.9700 ({{'{CELL}': 'lstm', '{SEED}': 1}}). Its config: {folder / 'best.yaml'}; "
        f"run it again with python -m lit_rnn.fit --config {folder / 'best.yaml'}"
    ) in out
    assert (folder / "optimization_history.png").is_file() and list((folder / "summary").glob("events.out.*"))


def test_a_space_without_seeds_has_no_spread_to_show(finished, capsys, monkeypatch):
    study, folder = finished
    monkeypatch.setattr("lit_rnn.study.report.plot", lambda study, folder: None)  # drawn in the test above
    report(study, folder, "val/acc_best", {CELL: ["gru", "lstm"]}, dict)
    assert "over the seeds" not in capsys.readouterr().out


def test_a_study_whose_trials_all_failed_or_were_pruned_is_an_error_and_writes_no_best_config(tmp_path):
    study = study_of(
        trial("gru", 1, None, TrialState.PRUNED), trial("lstm", 1, None, TrialState.FAIL, error="fit exited with 1")
    )
    with pytest.raises(NoTrialCompleted) as raised:
        report(study, tmp_path, "val/loss", {CELL: ["gru", "lstm"]}, dict)
    assert str(raised.value).startswith(
        f"No trial of the study in {tmp_path} completed: 1 of 2 failed, the others were pruned. The first failure, "
        f"trial 1: fit exited with 1 (its messages: {tmp_path / 'trial_1' / 'fit.log'})."
    )
    assert raised.value.exit_code == 1 and not (tmp_path / "best.yaml").exists()


def test_a_study_whose_trials_were_all_pruned_says_so_and_what_to_change_not_that_something_failed(tmp_path):
    why = "stopped before reaching the target validation accuracy (val/acc_best 0.9864)"
    study = study_of(trial("gru", 1, None, TrialState.PRUNED, error=why), trial("lstm", 1, None, TrialState.PRUNED))
    with pytest.raises(NoTrialCompleted) as raised:
        report(study, tmp_path, "val/seconds_to_target", {CELL: ["gru", "lstm"]}, dict)
    message = str(raised.value)
    assert message.startswith(
        f"No trial of the study in {tmp_path} completed: the pruner stopped all 2 (the first: {why})."
    )
    assert "a lower TimeToTarget target" in message and "failed" not in message


def test_while_other_workers_still_run_trials_the_report_says_no_result_yet(tmp_path, capsys):
    study = study_of(trial("gru", 1, None, TrialState.PRUNED))
    study.ask()  # a trial another worker runs
    report(study, tmp_path, "val/loss", {CELL: ["gru", "lstm"]}, dict)
    assert "No trial completed yet: other workers are still running trials." in capsys.readouterr().out
    assert not (tmp_path / "best.yaml").exists()
