"""A trial's fit arguments: each value of the trial reaches fit as its ``--key=value``, the run goes into the
trial's folder, the study's objective and pruner reach the trial's ``ReportToStudy``; and why a trial failed, in one
sentence."""

import signal
import sys
from pathlib import Path

import pytest
from helpers.cli import fit_config

from lit_rnn.base.errors import ConfigError
from lit_rnn.study.reporting import ReportToStudy
from lit_rnn.study.trial_fit import failure, fit_arguments, run_arguments, setting_arguments, stopping_signal

SGD = {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.1}}
REPORT = {
    "storage": "sqlite:///sweeps/loss/study.db",
    "study_name": "loss",
    "trial_number": 4,
    "objective": "val/loss",
    "pruner": None,
}


def test_each_value_is_one_key_equals_value_argument_strings_as_they_are_the_rest_as_json():
    values = {
        "model.network.cell": "gru",
        "model.optimizer.init_args.lr": 0.01,
        "model.network.hidden_size": 64,
        "model.network.bidirectional": True,
        "trainer.max_steps": None,
        "model.optimizer": SGD,
        "data.val_size": 1e-05,
    }
    assert setting_arguments(values) == [
        "--model.network.cell=gru",
        "--model.optimizer.init_args.lr=0.01",
        "--model.network.hidden_size=64",
        "--model.network.bidirectional=true",
        "--trainer.max_steps=null",
        '--model.optimizer={"class_path": "torch.optim.SGD", "init_args": {"lr": 0.1}}',
        "--data.val_size=1e-05",
    ]


def test_the_run_goes_into_the_trials_folder_through_the_loggers_save_dir_and_name_quietly():
    assert run_arguments(Path("sweeps/loss/trial_3/version_0")) == [
        f"--trainer.logger.init_args.save_dir={Path('sweeps/loss')}",
        "--trainer.logger.init_args.name=trial_3",
        "--trainer.enable_progress_bar=false",
    ]


@pytest.mark.parametrize("resume", [False, True])
def test_the_arguments_are_the_base_config_with_the_values_the_run_and_the_report_to_the_study(resume):
    run = Path("sweeps/loss/trial_4/version_0")
    arguments = fit_arguments(Path("sweeps/loss/base.yaml"), {"model.network.cell": "gru"}, run, REPORT, resume)
    assert arguments == [
        f"--config={Path('sweeps/loss/base.yaml')}",
        "--model.network.cell=gru",
        *run_arguments(run),
        "--trainer.callbacks+=lit_rnn.study.reporting.ReportToStudy",
        "--trainer.callbacks.storage=sqlite:///sweeps/loss/study.db",
        "--trainer.callbacks.study_name=loss",
        "--trainer.callbacks.trial_number=4",
        "--trainer.callbacks.objective=val/loss",
        "--trainer.callbacks.pruner=null",
        *(["--ckpt_path=last"] if resume else []),
    ]


def test_fit_parses_the_trials_command_into_its_settings_its_run_and_its_report(tmp_path, monkeypatch, tiny_mnist):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lit_rnn.fit"])
    (tmp_path / "base.yaml").write_text(f"data: {{data_dir: {tiny_mnist}}}\ntrainer: {{max_epochs: 3}}\n")
    values = {
        "model.network.cell": "gru",
        "model.optimizer": SGD,
        "model.network.hidden_size": 32,
        "model.network.bidirectional": True,
    }
    report = {**REPORT, "pruner": "hyperband"}
    arguments = fit_arguments(Path("base.yaml"), values, Path("sweeps/loss/trial_4/version_0"), report, resume=True)

    config = fit_config(arguments)
    network = config.model.network.init_args
    assert (network.cell, network.hidden_size, network.bidirectional) == ("gru", 32, True)
    assert config.model.optimizer.class_path == "torch.optim.SGD" and config.model.optimizer.init_args.lr == 0.1
    assert config.trainer.max_epochs == 3 and config.ckpt_path == "last"
    logger = config.trainer.logger.init_args
    assert (logger.save_dir, logger.name, config.trainer.enable_progress_bar) == ("sweeps/loss", "trial_4", False)
    (reporting,) = [c for c in config.trainer.callbacks if c.class_path.endswith(f".{ReportToStudy.__name__}")]
    assert dict(reporting.init_args) == report


def test_a_trial_whose_fit_said_nothing_failed_by_its_exit_code():
    assert failure(-9, None) == "fit exited with -9"


def test_a_users_error_is_the_sentence_fit_said_and_a_bug_is_its_type_and_message():
    assert failure(2, ConfigError("--model.network.hidden_size is 0, but it must be 1 or more.")) == (
        "--model.network.hidden_size is 0, but it must be 1 or more."
    )
    assert failure(1, RuntimeError("CUDA out of memory.\nTried to allocate 2 GiB")) == (
        "RuntimeError: CUDA out of memory. ... Tried to allocate 2 GiB"
    )
    assert failure(1, KeyError("val/loss")) == "KeyError: 'val/loss'"


@pytest.mark.parametrize(
    "exit_code, stopped_by",
    [
        (143, signal.SIGTERM),
        (130, signal.SIGINT),
        (128 + signal.SIGUSR1, signal.SIGUSR1),
        (-signal.SIGKILL, signal.SIGKILL),
        (-signal.SIGHUP, signal.SIGHUP),
        (-signal.SIGTERM, signal.SIGTERM),
        (-signal.SIGSEGV, None),  # a crash: the trial failed
        (-signal.SIGABRT, None),
        (137, None),  # no handler of fit's ends it so
        (0, None),
        (1, None),
        (2, None),
        (3, None),  # pruned
    ],
)
def test_a_fit_stopped_by_a_signal_is_told_from_one_that_failed(exit_code, stopped_by):
    assert stopping_signal(exit_code) == stopped_by
