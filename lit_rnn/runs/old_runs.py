"""Runs made by earlier versions of lit_rnn, read as today's: the one place that knows their layouts.

- Before the package had rooms, its modules were flat (``lit_rnn.profiling``): a run's ``config.yaml`` names its
  classes by those paths.
- Before networks were components (``model.network``), the recurrent network's settings were the model's own
  (``model.cell``, ``model.hidden_size``, ...) and its input was standardized by MNIST's published mean and std.

A checkpoint's settings and a run's ``config.yaml`` are upgraded here where they are read (``read_checkpoint``,
``run_config``, fit's ``--config`` files), so that such runs still resume, test, predict, export and serve; nothing
else in lit_rnn knows the old layouts, and no import of an old path is ever needed.
"""

from typing import Any

import torch

from lit_rnn.model.networks.recurrent import RecurrentNetwork

RECURRENT_NETWORK = f"{RecurrentNetwork.__module__}.{RecurrentNetwork.__qualname__}"
RECURRENT_SETTINGS = ("cell", "hidden_size", "num_layers", "dropout", "bidirectional", "rows_per_step", "crop_rows")
"""The model settings that were the recurrent network's before it was a component."""
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # what old runs standardized by, on the [0, 1] scale

OLD_MODULES = {  # a module before the rooms -> its module now
    "lit_rnn.batches": "lit_rnn.data.batches",
    "lit_rnn.callbacks": "lit_rnn.logs.hparams",
    "lit_rnn.checkpointing": "lit_rnn.runs.checkpointing",
    "lit_rnn.child_errors": "lit_rnn.base.child_errors",
    "lit_rnn.class_paths": "lit_rnn.base.class_paths",
    "lit_rnn.command_line": "lit_rnn.trained.command_line",
    "lit_rnn.console": "lit_rnn.cli.console",
    "lit_rnn.digits": "lit_rnn.data.digits",
    "lit_rnn.errors": "lit_rnn.base.errors",
    "lit_rnn.evaluation": "lit_rnn.trained.evaluation",
    "lit_rnn.figures": "lit_rnn.logs.figures",
    "lit_rnn.interrupts": "lit_rnn.base.interrupts",
    "lit_rnn.lightning_internals": "lit_rnn.base.private_apis",
    "lit_rnn.log_figures": "lit_rnn.logs.log_figures",
    "lit_rnn.logger_outputs": "lit_rnn.logs.outputs",
    "lit_rnn.logger_runs": "lit_rnn.runs.logger_runs",
    "lit_rnn.network": "lit_rnn.model.network",
    "lit_rnn.precision": "lit_rnn.cli.precision",
    "lit_rnn.profiling": "lit_rnn.cli.profiling",
    "lit_rnn.quick_exit": "lit_rnn.base.quick_exit",
    "lit_rnn.recovery": "lit_rnn.runs.recovery",
    "lit_rnn.refused_settings": "lit_rnn.cli.refused_settings",
    "lit_rnn.resume": "lit_rnn.runs.resume",
    "lit_rnn.run_results": "lit_rnn.runs.results",
    "lit_rnn.search_space": "lit_rnn.study.search_space",
    "lit_rnn.settings_checks": "lit_rnn.cli.settings_checks",
    "lit_rnn.study_storage": "lit_rnn.study.storage",
    "lit_rnn.sweep_report": "lit_rnn.study.report",
    "lit_rnn.trial_fit": "lit_rnn.study.trial_fit",
    "lit_rnn.trial_reporting": "lit_rnn.study.reporting",
    "lit_rnn.yaml_files": "lit_rnn.base.yaml_files",
}


def upgrade_model_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """A model's settings (a checkpoint's ``hyper_parameters``, a config's ``model``) with an old run's recurrent
    settings moved into ``network``; today's unchanged."""
    if "network" in settings or not any(key in settings for key in RECURRENT_SETTINGS):
        return settings
    kept = {key: value for key, value in settings.items() if key not in RECURRENT_SETTINGS}
    init_args = {key: settings[key] for key in RECURRENT_SETTINGS if key in settings}
    return {"network": {"class_path": RECURRENT_NETWORK, "init_args": init_args}, **kept}


def upgrade_checkpoint(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint read as today's: its settings upgraded, and the standardization an old run applied given as the
    weights that hold it now (``standardize.mean`` and ``standardize.std``)."""
    settings = checkpoint.get("hyper_parameters")
    if not isinstance(settings, dict) or "network" in settings:
        return checkpoint
    upgraded = {**checkpoint, "hyper_parameters": upgrade_model_settings(settings)}
    weights = checkpoint.get("state_dict")
    if settings.get("normalize_input") is True and isinstance(weights, dict) and "standardize.mean" not in weights:
        upgraded["state_dict"] = {
            **weights,
            "standardize.mean": torch.tensor(MNIST_MEAN),
            "standardize.std": torch.tensor(MNIST_STD),
        }
    return upgraded


def current_class_path(class_path: str) -> str:
    """Where the class an old config names by its module before the rooms lives now."""
    module, _, name = class_path.rpartition(".")
    return f"{OLD_MODULES[module]}.{name}" if module in OLD_MODULES else class_path


def _with_current_class_paths(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: current_class_path(item)
            if key == "class_path" and isinstance(item, str)
            else _with_current_class_paths(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_with_current_class_paths(item) for item in value]
    return value


def upgrade_config(config: Any) -> Any:
    """A run's ``config.yaml`` (as read from YAML) with its classes at their current paths and its model settings
    upgraded."""
    config = _with_current_class_paths(config)
    if isinstance(config, dict) and isinstance(config.get("model"), dict):
        return {**config, "model": upgrade_model_settings(config["model"])}
    return config
