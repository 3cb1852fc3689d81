"""Runs made by earlier versions of lit_rnn, read as today's: the one place that knows their layouts.

Before networks were components (``model.network``), the recurrent network's settings were the model's own
(``model.cell``, ``model.hidden_size``, ...) and its input was standardized by MNIST's published mean and std.
A checkpoint's settings and a run's ``config.yaml`` are upgraded here as they are read, so that such runs still
resume, test, predict, export and serve; nothing else in lit_rnn knows the old layout.
"""

from typing import Any

import torch

from lit_rnn.model.networks.recurrent import RecurrentNetwork

RECURRENT_NETWORK = f"{RecurrentNetwork.__module__}.{RecurrentNetwork.__qualname__}"
RECURRENT_SETTINGS = ("cell", "hidden_size", "num_layers", "dropout", "bidirectional", "rows_per_step", "crop_rows")
"""The model settings that were the recurrent network's before it was a component."""
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # what old runs standardized by, on the [0, 1] scale


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


def upgrade_config(config: Any) -> Any:
    """A run's ``config.yaml`` (as read from YAML) with its model settings upgraded."""
    if isinstance(config, dict) and isinstance(config.get("model"), dict):
        return {**config, "model": upgrade_model_settings(config["model"])}
    return config
