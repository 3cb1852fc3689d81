"""A config names classes of the kind each place expects, never a function to call; a name in the standard library is
refused before it is imported; a file a command reads by itself imports nothing it names."""

import json
import shutil
import sys

import pytest
import torch
import yaml
from helpers.cli import cli_in_process
from helpers.commands import tiny_fit_args
from jsonargparse import Namespace
from lightning.pytorch.loggers import CSVLogger, MLFlowLogger, TensorBoardLogger

from lit_rnn.base.class_paths import (
    CLASS_PLACES,
    check_called_classes,
    check_file_modules,
    check_named_modules,
    known_logger,
)
from lit_rnn.base.errors import ConfigError
from lit_rnn.cli.lightning_cli import CONFIG_DIR
from lit_rnn.runs.logger_runs import loggers_of_run

# Names in the standard library, each with arguments that would leave the file PATH were it called; "this" prints the
# Zen of Python and "antigravity" opens a web browser when imported.
STANDARD_LIBRARY = {
    "os.system": lambda path: {"command": f"touch {path}"},
    "subprocess.run": lambda path: {"args": ["touch", str(path)]},
    "builtins.exec": lambda path: {"source": f"open({str(path)!r}, 'w')"},
    "builtins.eval": lambda path: {"source": f"open({str(path)!r}, 'w')"},
    "this.Zen": lambda path: {},
    "antigravity.Fly": lambda path: {},
}
GIVEN_AS = ["a JSON value", "a class name value", "a config file", "a sweep's space in a config file"]


def named(class_path: str, path, given_as: str, key: str = "model.optimizer") -> tuple[list[str], list]:
    """A command line and config files that name ``class_path`` at ``key``, as ``given_as`` says."""
    value = {"class_path": class_path, "init_args": STANDARD_LIBRARY[class_path](path)}
    if given_as == "a JSON value":
        return [f"--{key}={json.dumps(value)}"], []
    if given_as == "a class name value":
        return [f"--{key}", class_path], []
    section, _, name = key.partition(".")
    data = {section: {name: value}} if given_as == "a config file" else {"sweep": {"space": {key: [value]}}}
    return [], [("given.yaml", yaml.safe_load(yaml.safe_dump(data)))]


@pytest.mark.parametrize("given_as", GIVEN_AS)
@pytest.mark.parametrize("class_path", STANDARD_LIBRARY)
def test_a_class_in_the_standard_library_is_refused_before_its_module_is_imported(class_path, given_as, tmp_path):
    module = class_path.partition(".")[0]
    was_imported = module in sys.modules
    args, configs = named(class_path, tmp_path / "called", given_as)
    with pytest.raises(ConfigError) as refused:
        check_named_modules(args)
        for source, data in configs:
            check_file_modules(data, source)
    assert str(refused.value).startswith(f"--model.optimizer{' (in given.yaml)' if configs else ''} names {class_path}")
    assert "standard library" in str(refused.value) and "torch.optim.optimizer.Optimizer" in str(refused.value)
    assert (module in sys.modules) == was_imported and not (tmp_path / "called").exists()


@pytest.mark.parametrize("given_as", ["a JSON value", "a config file", "a sweep's space in a config file"])
def test_fit_refuses_a_class_in_the_standard_library_in_one_line_before_anything_runs(
    given_as, tiny_mnist, tmp_path, monkeypatch
):
    args, configs = named("os.system", tmp_path / "called", given_as, key="model.scheduler")
    for source, data in configs:
        (tmp_path / source).write_text(yaml.safe_dump(data))
        args += [f"--config={source}"]
    with pytest.raises(ConfigError, match=r"^--model.scheduler( \(in given.yaml\))? names os.system, which is in"):
        cli_in_process(tmp_path, monkeypatch, [*tiny_fit_args(tiny_mnist), *args])
    assert not (tmp_path / "called").exists() and not (tmp_path / "lightning_logs").exists()


@pytest.mark.parametrize("value", ["AdamW", "torch.optim.SGD", "helpers.probes.Anything", "ddp", "false"])
def test_a_bare_name_or_a_class_outside_the_standard_library_is_left_to_the_parser(value):
    check_named_modules(["--model.optimizer", value, f"--trainer.strategy={value}"])
    check_file_modules({"trainer": {"callbacks": [{"class_path": value}]}}, "given.yaml")


# Per place: a function of a module that holds classes of its kind, and a class of another kind.
NOT_OF_ITS_KIND = {
    "model.network": ["lit_rnn.model.networks.cnn.widths", "torch.optim.SGD"],
    "model.optimizer": ["helpers.probes.record_call", "torch.nn.Linear"],
    "model.scheduler": ["torch.optim.lr_scheduler.warnings.warn", "torch.optim.SGD"],
    "trainer.logger": ["lightning.pytorch.loggers.logger.rank_zero_experiment", "lightning.pytorch.callbacks.Callback"],
    "trainer.callbacks": ["helpers.probes.record_call", "lightning.pytorch.loggers.CSVLogger"],
    "trainer.profiler": ["lightning.pytorch.profilers.profiler.os.system", "torch.nn.Linear"],
    "trainer.strategy": ["torch.save", "lightning.pytorch.accelerators.CPUAccelerator"],
    "trainer.accelerator": ["torch.load", "lightning.pytorch.strategies.DDPStrategy"],
    "trainer.plugins": ["helpers.probes.record_call", "torch.optim.Adam"],
}


@pytest.mark.parametrize(
    "key, class_path", [(key, class_path) for key, paths in NOT_OF_ITS_KIND.items() for class_path in paths]
)
@pytest.mark.parametrize("as_list", [False, True])
def test_a_class_path_that_is_not_a_class_of_its_kind_is_refused_before_anything_is_built(
    key, class_path, as_list, tmp_path
):
    called = tmp_path / "called"
    given = Namespace(class_path=class_path, init_args=Namespace(path=str(called)))
    section, _, name = key.partition(".")
    config = Namespace(**{section: Namespace(**{name: [given] if as_list else given})})
    with pytest.raises(ConfigError) as refused:
        check_called_classes(config)
    kinds = " or ".join(f"{kind.__module__}.{kind.__name__}" for kind in CLASS_PLACES[key][0])
    assert str(refused.value).startswith(f"--{key} is {class_path}, which is not a subclass of {kinds}")
    assert CLASS_PLACES[key][1] in str(refused.value) and not called.exists()


def test_the_classes_fit_builds_by_default_and_the_shipped_configs_name_pass_the_check(
    tiny_mnist, tmp_path, monkeypatch
):
    cli = cli_in_process(
        tmp_path,
        monkeypatch,
        [
            *tiny_fit_args(tiny_mnist),
            f"--config={CONFIG_DIR / 'best.yaml'}",
            "--trainer.callbacks+=helpers.probes.CountBatches",
            f"--trainer.callbacks.out_dir={tmp_path}",
        ],
    )
    check_called_classes(cli.config)  # the default logger, profiler and callbacks, best.yaml's optimizer and schedule


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


@pytest.mark.parametrize("named_as", ["the optimizer and schedule", "the network"])
def test_a_resume_from_a_checkpoint_naming_other_classes_imports_and_calls_none_of_them(
    named_as, tiny_run, tiny_mnist, tmp_path, monkeypatch
):
    """A resume is built from the command's own config; the checkpoint's class paths are only compared with it."""
    (tmp_path / "sideeffect.py").write_text("from pathlib import Path\nPath(__file__).with_name('IMPORTED').touch()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "sideeffect", raising=False)
    shutil.copytree(tiny_run / "lightning_logs", tmp_path / "lightning_logs")
    last = tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, weights_only=True)
    settings = checkpoint["hyper_parameters"]
    settings["optimizer"] = {"class_path": "os.system", "init_args": {"command": f"touch {tmp_path / 'called'}"}}
    settings["scheduler"] = {"class_path": "sideeffect.Schedule"}
    if named_as == "the network":
        settings["network"] = {**settings["network"], "class_path": "sideeffect.Network"}
    torch.save(checkpoint, last)
    args = [*tiny_fit_args(tiny_mnist, "--trainer.max_epochs=3"), "--ckpt_path=last"]
    if named_as == "the network":
        with pytest.raises(ConfigError, match=r"sideeffect\.Network"):
            cli_in_process(tmp_path, monkeypatch, args)
    else:
        cli = cli_in_process(tmp_path, monkeypatch, args)
        cli.trainer.fit(cli.model, cli.datamodule, ckpt_path=cli.config.ckpt_path)
        assert cli.trainer.global_step > checkpoint["global_step"]
    assert not (tmp_path / "called").exists() and not (tmp_path / "IMPORTED").exists()
    assert "sideeffect" not in sys.modules
