"""The networks a run may train, one module each: plain ``nn.Module`` classes, usable without Lightning.

A network is chosen by config (``--model.network CLASS``, or ``model.network: {class_path, init_args}`` in YAML) and
handed to the LightningModule, which keeps the loss, the metrics and the optimizer. What every network here agrees to:

- ``__init__`` takes typed keyword arguments (they are the config and its ``--help``) and ``num_classes`` last;
  it refuses a value it cannot be built with in one ``ConfigError`` (``check_argument``) before allocating anything.
- ``forward`` maps float images ``(batch, 28, 28)`` to logits ``(batch, num_classes)``, the batch size left free
  (so that ONNX export keeps it free: no Python number taken from a tensor's batch axis).
- A network that reads the rows in order may define ``logits_by_row(images) -> (batch, 28, num_classes)``: its
  opinion after each row, which depends on no later row, the last row's being ``forward``'s. Where some of its
  settings read every row at once (a bidirectional RNN, a Transformer without its causal mask), it says why in
  ``no_opinion_by_row`` (None where it has one).

A module of this package is a known network: a checkpoint that names one of its classes is rebuilt without asking;
a class from anywhere else is rebuilt only from a module the user allows (``lit_rnn.trained.loading``).
To add a network: one new module here, and ``configs/networks/NAME.yaml``.
"""

from typing import Any

from torch import nn

from lit_rnn.base.errors import check_config

IMAGE_SIZE = 28  # rows of an image, and pixels in a row, in every dataset of MNIST's format

# 400 MB of float32 weights, three times that with Adam's two states: far more than a reader of 28x28
# images needs, and a bound that stops a typo such as hidden_size 10**12 before it allocates anything.
MAX_WEIGHTS = 100_000_000


def check_argument(condition: bool, name: str, value: Any, expected: str) -> None:
    """Refuse a network's argument ``name`` unless ``condition`` holds, naming it as the command line does
    (``--model.network.NAME``, ``model.network.init_args.NAME`` in YAML), and as jsonargparse's own refusals do."""
    check_config(condition, f"model.network.{name}", value, expected)


def is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_positive_whole(name: str, value: Any, highest: int | None = None) -> None:
    """A count (units, layers, heads): a whole number from 1, to ``highest`` where one is given."""
    within = highest is None or (is_whole(value) and value <= highest)
    check_argument(
        is_whole(value) and value > 0 and within,
        name,
        value,
        "a positive whole number" if highest is None else f"a whole number from 1 to {highest:,}",
    )


def check_share(name: str, value: Any) -> None:
    """A share such as a dropout rate: a number in [0, 1)."""
    check_argument(
        isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1, name, value, "in [0, 1)"
    )


def check_stacked_layers(hidden_size: Any, num_layers: Any, dropout: Any) -> None:
    """A stack of recurrent layers: its width, its depth, and dropout, which acts between layers only."""
    check_positive_whole("hidden_size", hidden_size)
    check_positive_whole("num_layers", num_layers)
    check_share("dropout", dropout)
    check_argument(
        dropout == 0 or num_layers > 1,
        "dropout",
        dropout,
        "0 with one layer (dropout acts between layers): raise --model.network.num_layers",
    )


def check_weight_count(weights: int, name: str, value: Any, settings: str) -> None:
    """Refuse a network of more than ``MAX_WEIGHTS`` weights, counted before it is built, naming the argument to lower."""
    check_argument(
        weights <= MAX_WEIGHTS,
        name,
        value,
        f"smaller: with {settings} the network would have {weights:,} weights, and at most {MAX_WEIGHTS:,} "
        f"({MAX_WEIGHTS * 4 // 10**6} MB) are allowed, far more than 28x28 images need",
    )


def no_opinion_by_row(network: nn.Module) -> str | None:
    """Why ``network`` has no opinion row by row (its answer after each row it reads); None where it has one."""
    if not callable(getattr(network, "logits_by_row", None)):
        return f"{type(network).__name__} reads the whole image at once, not row by row"
    return getattr(network, "no_opinion_by_row", None)
