"""A sweep's search space: fit's own dotted keys, each given choices or a range, turned into Optuna's suggestions.

In a sweep file::

    space:
      model.cell: [rnn, gru, lstm]                     # choices
      model.optimizer.init_args.lr: {low: 0.001, high: 0.03, log: true}   # a float range
      model.hidden_size: {low: 32, high: 128, step: 32}                   # an int range (whole numbers)
      model.optimizer: [{class_path: torch.optim.SGD, init_args: {lr: 0.1}}, {class_path: torch.optim.Adam}]
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna

from lit_rnn.base.errors import ConfigError


@dataclass(frozen=True)
class Range:
    """Numbers from ``low`` to ``high``: whole numbers when both ends and ``step`` are (step 1 if not given)."""

    low: float
    high: float
    step: float | None = None
    log: bool = False

    @property
    def whole(self) -> bool:
        return all(isinstance(value, int) and not isinstance(value, bool) for value in (self.low, self.high)) and (
            self.step is None or isinstance(self.step, int)
        )


Dimension = list[Any] | Range


def parse_space(space: Mapping[str, Any]) -> dict[str, Dimension]:
    """Check the space's shape and turn its ranges into ``Range``; says which key is wrong and why."""
    if not space:
        raise ConfigError(
            "--sweep.space is empty: give at least one fit option to vary, such as {model.cell: [rnn, gru, lstm]}."
        )
    dimensions = {}
    for key, given in space.items():
        where = f"--sweep.space's {key}"
        if isinstance(given, list):
            if not given:
                raise ConfigError(f"{where} is an empty list of choices: give one or more values.")
            dimensions[key] = given
            continue
        if (
            not isinstance(given, Mapping)
            or not {"low", "high"} <= set(given)
            or set(given) - {"low", "high", "step", "log"}
        ):
            raise ConfigError(
                f"{where} is {given!r}: give a list of choices, or a range {{low, high}} with an "
                "optional step or log: true."
            )
        numbers = [given[name] for name in ("low", "high", "step") if given.get(name) is not None]
        if not all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in numbers):
            raise ConfigError(f"{where} is {given!r}: low, high and step must be numbers.")
        dimension = Range(given["low"], given["high"], given.get("step"), bool(given.get("log", False)))
        if dimension.low > dimension.high:
            raise ConfigError(f"{where} has low {dimension.low} above high {dimension.high}: swap them.")
        if dimension.log and (dimension.low <= 0 or dimension.step is not None):
            raise ConfigError(f"{where} is log-scaled: its low must be above 0, and it takes no step.")
        if dimension.step is not None and dimension.step <= 0:
            raise ConfigError(f"{where} has step {dimension.step}: a step must be above 0.")
        dimensions[key] = dimension
    return dimensions


def grid(dimensions: Mapping[str, Dimension]) -> dict[str, list[Any]]:
    """The grid of a space of choices, for Optuna's ``GridSampler``; a range has no grid."""
    ranges = [key for key, dimension in dimensions.items() if isinstance(dimension, Range)]
    if ranges:
        raise ConfigError(
            f"--sweep.sampler grid tries every combination of choices, but {', '.join(ranges)} "
            f"{'is a range' if len(ranges) == 1 else 'are ranges'}: list the values to try, or use "
            "--sweep.sampler tpe or random."
        )
    return {key: labels(dimension) for key, dimension in dimensions.items()}


def labels(choices: list[Any]) -> list[Any]:
    """The choices as Optuna takes them: numbers, strings, booleans and null as they are, anything else (a class with
    its arguments) as its JSON text, which fit's command line reads as the value itself."""
    return [
        choice if choice is None or isinstance(choice, (bool, int, float, str)) else json.dumps(choice)
        for choice in choices
    ]


def suggest(trial: optuna.trial.Trial, dimensions: Mapping[str, Dimension]) -> dict[str, Any]:
    """The trial's value of each dimension, drawn by the study's sampler."""
    values = {}
    for key, dimension in dimensions.items():
        if not isinstance(dimension, Range):
            chosen = labels(dimension)
            values[key] = dimension[chosen.index(trial.suggest_categorical(key, chosen))]
        elif dimension.whole:
            values[key] = trial.suggest_int(
                key, dimension.low, dimension.high, step=dimension.step or 1, log=dimension.log
            )
        else:
            values[key] = trial.suggest_float(
                key, dimension.low, dimension.high, step=dimension.step, log=dimension.log
            )
    return values


def corners(dimensions: Mapping[str, Dimension]) -> list[dict[str, Any]]:
    """One setting per choice and per range end: enough to find a key fit does not have or a value it refuses."""
    settings = []
    for key, dimension in dimensions.items():
        values = [dimension.low, dimension.high] if isinstance(dimension, Range) else dimension
        settings += [{key: value} for value in values]
    return settings
