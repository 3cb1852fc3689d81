"""The sweep in process, without running a trial: the trial's command line, and the settings that it refuses before any
trial runs (each with several inputs of its kind), or accepts where fit does."""

import json
from pathlib import Path

import optuna
import pytest
from helpers.commands import tiny_fit_args
from optuna.trial import TrialState

from lit_rnn import sweep as sweep_module
from lit_rnn.base.errors import ConfigError
from lit_rnn.cli.lightning_cli import CONFIG_DIR
from lit_rnn.runs import results as run_results
from lit_rnn.study.report import NoTrialCompleted, check_some_trial_completed
from lit_rnn.study.reporting import ReportToStudy
from lit_rnn.study.storage import open_storage
from lit_rnn.sweep import Sweep, SweepCLI, SweepSettings, TrialFailed

SWEEP = """
sweep:
  study_name: loss
  sampler: random
  trials: 3
  pruner: hyperband
  objective: val/loss
  direction: minimize
  space:
    model.network.cell: [gru, lstm]
"""


def sweep_of(workdir: Path, data: Path, body: str = SWEEP, *extra: str) -> Sweep:
    (workdir / "sweep.yaml").write_text(body)
    cli = SweepCLI(args=["--config=sweep.yaml", *tiny_fit_args(data), *extra])
    return Sweep(cli, SweepSettings(**cli.config.sweep))


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_trials_command_line_reports_the_sweeps_objective_to_its_trial(in_tmp, tiny_mnist):
    sweep = sweep_of(in_tmp, tiny_mnist)
    study = sweep.open_study()
    study.ask()  # trial 0, so that the trial below has another number than the default's
    arguments, run = sweep.trial_arguments(trial := study.ask())
    config = sweep.cli.parser.parse_args(arguments)  # as the trial's fit parses it (fit's keys and the sweep's)
    (report,) = [
        callback for callback in config.trainer.callbacks if callback.class_path.endswith(ReportToStudy.__name__)
    ]
    assert dict(report.init_args) == {
        "storage": f"sqlite:///{Path('sweeps/loss/study.db')}",
        "study_name": "loss",
        "trial_number": trial.number,
        "objective": "val/loss",
        "pruner": "hyperband",
    }
    assert config.model.network.init_args.cell == trial.params["model.network.cell"]
    assert config.ckpt_path is None and run == Path("sweeps/loss/trial_1/version_0")
    assert (config.trainer.logger.init_args.save_dir, config.trainer.logger.init_args.name) == (
        "sweeps/loss",
        "trial_1",
    )


NAMES_OUTSIDE = [
    "..",
    ".",
    "../elsewhere",
    "/tmp/absolute",
    "a/b",
    "sub/../..",
    "~",
    ".hidden",
    "",
    "a b",
    "x" * 201,
    "back\\slash",
    "-rf",
]


@pytest.mark.parametrize("name", NAMES_OUTSIDE)
def test_a_study_name_that_is_not_one_folder_inside_the_sweeps_folder_is_refused(name, in_tmp):
    with pytest.raises(ConfigError, match="--sweep.study_name is .* names the study's folder inside sweeps"):
        SweepSettings(space={"model.network.cell": ["gru"]}, sampler="grid", study_name=name)
    assert not list(in_tmp.iterdir())  # no folder, no database made


@pytest.mark.parametrize("name", ["search", "search-2", "cells_v1.2", "_private", "étude", "x" * 200])
def test_a_study_name_of_one_folder_is_accepted(name, in_tmp):
    assert (
        SweepSettings(space={"model.network.cell": ["gru"]}, sampler="grid", study_name=name).folder
        == Path("sweeps") / name
    )


@pytest.mark.parametrize("seconds", [0, -1, 86_401, 10**10, 10**20, 2**63])
def test_a_heartbeat_out_of_bounds_is_refused(seconds, in_tmp):
    with pytest.raises(ConfigError, match=f"--sweep.heartbeat_seconds is {seconds}, .* from 1 to 86,400"):
        SweepSettings(space={"model.network.cell": ["gru"]}, sampler="grid", heartbeat_seconds=seconds)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///",
        "sqlite+pysqlite://",
        "sqlite+pysqlite:///:memory:",
        "sqlite:///file::memory:?cache=shared&uri=true",
        "sqlite:///file:study?mode=memory&uri=true",
    ],
)
def test_a_database_in_memory_is_refused_as_the_trials_cannot_reach_it(url, in_tmp):
    with pytest.raises(
        ConfigError, match="is a SQLite database in memory, which the trials' own processes cannot reach"
    ):
        open_storage(url, heartbeat_seconds=60)
    assert not list(in_tmp.iterdir())  # not even a lock file


@pytest.mark.parametrize("key", ["sweep.trials", "sweep.space", "sweep.study_name", "sweep.objective", "sweep"])
def test_a_space_key_of_the_sweeps_own_section_is_refused_before_any_trial(key, in_tmp, tiny_mnist):
    sweep = sweep_of(in_tmp, tiny_mnist, f"sweep:\n  sampler: grid\n  space:\n    {key}: [1, 2]\n")
    with pytest.raises(ConfigError, match=f"--sweep.space's {key} = 1 is refused by fit: fit has no --{key}"):
        sweep.check()


@pytest.mark.parametrize("epochs", ["[2, 3]", "{low: 2, high: 5}"])
def test_a_space_of_epochs_that_the_validation_cadence_would_leave_unvalidated_is_refused_before_any_trial(
    epochs, in_tmp, tiny_mnist
):
    body = "trainer:\n  check_val_every_n_epoch: 2\nsweep:\n  sampler: random\n  trials: 2\n  space:\n"
    body += f"    trainer.max_epochs: {epochs}\n"
    sweep = sweep_of(in_tmp, tiny_mnist, body)  # the base's 2 epochs are validated
    refusal = (
        r"trainer.max_epochs = [35] is refused by fit: --trainer.check_val_every_n_epoch is 2, but it must be a divisor"
    )
    with pytest.raises(ConfigError, match=refusal):
        sweep.check()


OPTIMIZER_SPACES = {
    "class paths": "model.optimizer.class_path: [torch.optim.SGD, torch.optim.RMSprop, torch.optim.Adam]",
    "classes with arguments": "model.optimizer: [{class_path: torch.optim.SGD, init_args: {lr: 0.1, momentum: 0.9}}, "
    "{class_path: torch.optim.AdamW}]",
    "a class with a range": "model.optimizer.init_args.weight_decay: {low: 0.0, high: 0.1}",
}


@pytest.mark.parametrize("space", OPTIMIZER_SPACES)
def test_a_space_over_optimizer_classes_is_accepted_as_fit_accepts_it(space, in_tmp, tiny_mnist):
    sweep = sweep_of(
        in_tmp, tiny_mnist, f"sweep:\n  sampler: random\n  trials: 2\n  space:\n    {OPTIMIZER_SPACES[space]}\n"
    )
    sweep.check()
    key, choices = next(iter(sweep.settings.dimensions.items()))
    if isinstance(choices, list):  # the best trial's config is each choice, whole, as fit reads it
        chosen = sweep.best_config({key: json.dumps(choices[0]) if isinstance(choices[0], dict) else choices[0]})
        assert chosen["model"]["optimizer"]["class_path"] == "torch.optim.SGD"
        assert "amsgrad" not in chosen["model"]["optimizer"]["init_args"]  # Adam's, in the base config


@pytest.mark.parametrize(
    "again",
    [
        ["--sweep.objective=val/acc"],
        ["--sweep.direction=maximize"],
        ["--sweep.objective=test/loss", "--sweep.direction=maximize"],
        ["--sweep.space={model.cell: [rnn]}"],
    ],
)
def test_the_same_study_with_another_objective_direction_or_space_is_refused(again, in_tmp, tiny_mnist):
    sweep_of(in_tmp, tiny_mnist).open_study()
    other = sweep_of(in_tmp, tiny_mnist, SWEEP, *again)
    with pytest.raises(
        ConfigError, match="The study loss in .* was started with another .*: its trials would not compare"
    ):
        other.open_study()
    assert sweep_of(in_tmp, tiny_mnist).open_study().user_attrs["objective"] == "val/loss"  # the same again: accepted


def test_a_study_whose_trials_all_failed_or_were_pruned_is_an_error_naming_the_first_failure(tmp_path):
    study = optuna.create_study()
    for state in (TrialState.PRUNED, TrialState.FAIL, TrialState.FAIL):
        trial = study.ask()
        trial.set_user_attr("error", f"reason {trial.number}")
        study.tell(trial, state=state)
    with pytest.raises(
        NoTrialCompleted,
        match=r"2 of 3 failed, the others were pruned. The first failure, trial 1: "
        r"reason 1 \(its messages: .*trial_1/fit.log\)",
    ):
        check_some_trial_completed(study.trials, tmp_path)
    running = study.ask()  # another worker's trial may still complete
    check_some_trial_completed(study.trials, tmp_path)
    study.tell(running, 0.5)
    check_some_trial_completed(study.trials, tmp_path)


REFUSED_LOGGERS = {
    "none": "false",
    "MLflow's": '{"class_path": "lightning.pytorch.loggers.MLFlowLogger"}',
    "a list": '[{"class_path": "lightning.pytorch.loggers.TensorBoardLogger"}, '
    '{"class_path": "lightning.pytorch.loggers.CSVLogger"}]',
}


@pytest.mark.parametrize("logger", REFUSED_LOGGERS)
def test_a_logger_that_cannot_keep_a_trials_run_in_its_folder_is_refused_before_any_trial(logger, in_tmp, tiny_mnist):
    sweep = sweep_of(in_tmp, tiny_mnist, SWEEP, f"--trainer.logger={REFUSED_LOGGERS[logger]}")
    with pytest.raises(
        ConfigError, match="--trainer.logger cannot keep each trial's run in its own folder, sweeps/loss/"
    ):
        sweep.check()


@pytest.mark.parametrize("logger", ["CSVLogger", "TensorBoardLogger"])
def test_one_csv_or_tensorboard_logger_anywhere_is_accepted(logger, in_tmp, tiny_mnist):
    given = f'{{"class_path": "lightning.pytorch.loggers.{logger}", "init_args": {{"save_dir": "elsewhere"}}}}'
    sweep_of(in_tmp, tiny_mnist, SWEEP, f"--trainer.logger={given}").check()


TIME_SWEEP = SWEEP.replace("objective: val/loss", "objective: val/seconds_to_target")
TIME_CALLBACK = "--trainer.callbacks+=lit_rnn.logs.time_to_target.TimeToTarget"


def test_a_time_to_target_objective_without_the_callback_that_logs_it_is_refused_before_any_trial(in_tmp, tiny_mnist):
    with pytest.raises(
        ConfigError, match="only a run with a TimeToTarget callback logs, and the sweep's config has none"
    ):
        sweep_of(in_tmp, tiny_mnist, TIME_SWEEP).check()
    sweep_of(in_tmp, tiny_mnist, TIME_SWEEP, TIME_CALLBACK).check()


@pytest.mark.parametrize("reached", [True, False])
def test_a_trial_that_did_not_reach_its_target_is_pruned_and_one_that_did_has_its_seconds(
    reached, in_tmp, tiny_mnist, monkeypatch
):
    sweep = sweep_of(in_tmp, tiny_mnist, TIME_SWEEP, TIME_CALLBACK)
    study = sweep.open_study()

    def finished_fit(fits, arguments, run, trial):  # a fit that ran to its end, and reached the target or not
        run.mkdir(parents=True, exist_ok=True)
        run_results.record(run, {"val/acc_best": 0.97, **({"val/seconds_to_target": 12.5} if reached else {})})
        return 0, None

    monkeypatch.setattr(sweep_module, "run_fit", finished_fit)
    study.optimize(lambda trial: sweep.run_trial(trial, fits=None), n_trials=1, catch=(TrialFailed,))
    (trial,) = study.trials
    if reached:
        assert (trial.state, trial.value) == (TrialState.COMPLETE, 12.5)
    else:
        assert trial.state == TrialState.PRUNED
        assert (
            trial.user_attrs["error"] == "stopped before reaching the target validation accuracy (val/acc_best 0.9700)"
        )


@pytest.mark.parametrize("config", sorted(path.name for path in (CONFIG_DIR / "sweeps").glob("*.yaml")))
def test_every_shipped_sweep_passes_its_checks(config, in_tmp, tiny_mnist):
    cli = SweepCLI(args=[f"--config={CONFIG_DIR / 'sweeps' / config}", *tiny_fit_args(tiny_mnist)])
    Sweep(cli, SweepSettings(**cli.config.sweep)).check()  # every corner of its space, built as fit builds it


@pytest.mark.parametrize("key", ["model.optimizer", "model.scheduler"])
@pytest.mark.parametrize("shape", ["a class with arguments", "a class path"])
def test_a_function_in_a_space_is_refused_by_the_sweeps_check_before_it_is_called(key, shape, in_tmp, tiny_mnist):
    """Issue 31: the sweep's own check of its space built each choice before fit's check of the classes had seen it."""
    called = in_tmp / "called"
    choice = (
        f"{{class_path: helpers.probes.record_call, init_args: {{path: {called}}}}}"
        if shape == "a class with arguments"
        else "helpers.probes.record_call"
    )
    space_key = key if shape == "a class with arguments" else f"{key}.class_path"
    sweep = sweep_of(in_tmp, tiny_mnist, f"sweep:\n  sampler: grid\n  space:\n    {space_key}: [{choice}]\n")
    with pytest.raises(ConfigError, match=rf"is refused by fit: --{key} is helpers.probes.record_call, which "):
        sweep.check()
    assert not called.exists() and not (in_tmp / "sweeps" / "sweep" / "trial_0").exists()


@pytest.mark.parametrize("in_the_way", ["sweeps", "sweeps/loss", "runs/sweeps"])
@pytest.mark.parametrize("storage", [None, "elsewhere.db"])
def test_a_file_where_the_studys_folder_goes_is_one_line_naming_it(in_the_way, storage, in_tmp, tiny_mnist):
    (in_tmp / in_the_way).parent.mkdir(parents=True, exist_ok=True)
    (in_tmp / in_the_way).write_text("not a folder")
    folder = "runs/sweeps" if in_the_way.startswith("runs") else "sweeps"
    extra = [f"--sweep.folder={folder}", *([f"--sweep.storage=sqlite:///{in_tmp / storage}"] if storage else [])]
    with pytest.raises(ConfigError) as refused:
        sweep_of(in_tmp, tiny_mnist, SWEEP, *extra).open_study()
    assert str(refused.value) == (
        f"--sweep.folder {folder} cannot hold the study's folder, {folder}/loss, where its trials' runs go "
        f"({in_the_way} is a file, not a folder). Give another --sweep.folder, or move what is in the way."
    )
    assert (in_tmp / in_the_way).read_text() == "not a folder"


@pytest.mark.parametrize("value", ["gru", "8", "0.5", "true", "null", "'[gru]'"])
def test_a_single_value_in_the_space_is_refused_naming_its_key(value, in_tmp, tiny_mnist):
    body = f"sweep:\n  sampler: grid\n  space:\n    model.network.cell: {value}\n"
    with pytest.raises(ConfigError) as refused:
        sweep_of(in_tmp, tiny_mnist, body)
    assert str(refused.value).startswith("--sweep.space's model.network.cell is ")
    assert str(refused.value).endswith(
        ": give a list of choices, or a range {low, high} with an optional step or log: true."
    )


@pytest.mark.parametrize(
    "key", ["model.network.cel", "model.net.cell", "model.network.hidden", "trainer.max_ep", "data.batch", "seed"]
)
def test_an_abbreviated_key_in_the_space_is_refused_naming_it(key, in_tmp, tiny_mnist):
    sweep = sweep_of(in_tmp, tiny_mnist, f"sweep:\n  sampler: grid\n  space:\n    {key}: [2]\n")
    with pytest.raises(ConfigError, match=rf"^--sweep.space's {key} = 2 is refused by fit: "):
        sweep.check()
