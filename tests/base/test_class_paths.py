"""A config names classes of the kind each place expects, never a function to call; a file a command reads by itself
imports nothing it names."""

import sys

import pytest
from helpers.cli import cli_in_process
from helpers.commands import tiny_fit_args
from lightning.pytorch.loggers import CSVLogger, MLFlowLogger, TensorBoardLogger

from lit_rnn.base.class_paths import known_logger
from lit_rnn.base.errors import ConfigError
from lit_rnn.runs.logger_runs import loggers_of_run


@pytest.mark.parametrize(
    "key, example", [("optimizer", "torch.optim.AdamW"), ("scheduler", "torch.optim.lr_scheduler.OneCycleLR")]
)
def test_a_function_named_as_the_optimizer_or_schedule_is_refused_before_it_is_called(
    key, example, tiny_mnist, tmp_path, monkeypatch
):
    called = tmp_path / "called"
    given = f'{{"class_path": "helpers.probes.record_call", "init_args": {{"path": "{called}"}}}}'
    with pytest.raises(ConfigError) as refused:
        cli_in_process(tmp_path, monkeypatch, [*tiny_fit_args(tiny_mnist), f"--model.{key}={given}"])
    assert str(refused.value).startswith(
        f"--model.{key} is helpers.probes.record_call, which is not a subclass of torch.optim"
    )
    assert example in str(refused.value)
    assert not called.exists() and not (tmp_path / "lightning_logs").exists()


def test_optimizer_and_schedule_classes_are_built_as_given(tiny_mnist, tmp_path, monkeypatch):
    cli = cli_in_process(
        tmp_path,
        monkeypatch,
        [
            *tiny_fit_args(tiny_mnist),
            "--model.optimizer=torch.optim.SGD",
            "--model.optimizer.lr=0.05",
            "--model.scheduler=torch.optim.lr_scheduler.StepLR",
            "--model.scheduler.step_size=3",
        ],
    )
    optimizer = cli.model.configure_optimizers()
    optimizer, schedule = (optimizer["optimizer"], optimizer["lr_scheduler"]["scheduler"])
    assert type(optimizer).__name__ == "SGD" and optimizer.defaults["lr"] == 0.05 and schedule.step_size == 3


def test_a_runs_config_names_loggers_that_are_looked_up_by_name_and_nothing_else_is_imported(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "this", raising=False)
    run = tmp_path / "lightning_logs" / "version_0"
    run.mkdir(parents=True)
    settings = {
        "trainer": {
            "logger": [
                {"class_path": "this.Zen"},
                {"class_path": "os.system"},
                {"class_path": "lightning.pytorch.loggers.CSVLogger"},
            ]
        }
    }
    (logger,) = loggers_of_run(run, settings)
    assert isinstance(logger, CSVLogger) and "this" not in sys.modules
    assert known_logger("this.Zen") is None and known_logger(["not", "a", "name"]) is None
    for cls in (TensorBoardLogger, CSVLogger, MLFlowLogger):
        assert known_logger(f"lightning.pytorch.loggers.{cls.__name__}") is cls
        assert known_logger(f"{cls.__module__}.{cls.__name__}") is cls
