"""The recurrent classifier as a plain ``nn.Module``: usable, testable and exportable without Lightning."""

from typing import Any, Literal, get_args

import torch
from torch import nn

from lit_rnn.base.errors import check_config

CellType = Literal["lstm", "gru", "rnn"]

_CELLS: dict[str, type[nn.RNNBase]] = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
_GATES = {"lstm": 4, "gru": 3, "rnn": 1}  # weight matrices per layer and direction

# MNIST's training-set pixel mean and standard deviation, on the [0, 1] scale.
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081

ARCHITECTURE_KEYS = ("cell", "hidden_size", "num_layers", "dropout", "bidirectional", "normalize_input")
"""The settings that define the network, and all that a checkpoint's hyperparameters need to rebuild it."""

# 400 MB of float32 weights, three times that with Adam's two states: far more than a reader of 28x28
# digits needs, and a bound that stops a typo such as hidden_size 10**12 before it allocates anything.
MAX_WEIGHTS = 100_000_000


def weight_count(
    cell: str, hidden_size: int, num_layers: int, bidirectional: bool, input_size: int = 28, num_classes: int = 10
) -> int:
    """How many weights the network has, computed without building it."""
    directions = 2 if bidirectional else 1

    def layer(layer_input: int) -> int:
        return directions * _GATES[cell] * hidden_size * (layer_input + hidden_size + 2)  # two bias vectors

    upper_layers = (num_layers - 1) * layer(hidden_size * directions)
    return layer(input_size) + upper_layers + hidden_size * directions * num_classes + num_classes


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_architecture(
    cell: Any, hidden_size: Any, num_layers: Any, dropout: Any, bidirectional: Any, normalize_input: Any
) -> None:
    """Refuse settings the network cannot be built with, types included (a checkpoint's may be anything).

    Raises:
        ConfigError: naming the first wrong setting, before anything is allocated.
    """
    check_config(cell in _CELLS, "model.cell", cell, f"one of {', '.join(map(repr, get_args(CellType)))}")
    check_config(
        _is_whole(hidden_size) and hidden_size > 0, "model.hidden_size", hidden_size, "a positive whole number"
    )
    check_config(_is_whole(num_layers) and num_layers > 0, "model.num_layers", num_layers, "a positive whole number")
    check_config(
        isinstance(dropout, (int, float)) and not isinstance(dropout, bool) and 0 <= dropout < 1,
        "model.dropout",
        dropout,
        "in [0, 1)",
    )
    check_config(
        dropout == 0 or num_layers > 1,
        "model.dropout",
        dropout,
        "0 with one layer (dropout acts between layers): raise --model.num_layers",
    )
    check_config(isinstance(bidirectional, bool), "model.bidirectional", bidirectional, "true or false")
    check_config(isinstance(normalize_input, bool), "model.normalize_input", normalize_input, "true or false")
    weights = weight_count(cell, hidden_size, num_layers, bidirectional)
    one_layer_fits = weight_count(cell, hidden_size, 1, bidirectional) <= MAX_WEIGHTS
    argument, value = ("num_layers", num_layers) if one_layer_fits else ("hidden_size", hidden_size)
    check_config(
        weights <= MAX_WEIGHTS,
        f"model.{argument}",
        value,
        f"smaller: with --model.hidden_size {hidden_size} and --model.num_layers {num_layers} the network would "
        f"have {weights:,} weights, and at most {MAX_WEIGHTS:,} ({MAX_WEIGHTS * 4 // 10**6} MB) are allowed, "
        "far more than 28x28 digits need",
    )


class RecurrentClassifier(nn.Module):
    """Reads a 28x28 image row by row (28 steps of 28 pixels) and classifies it from the last step.

    With the defaults this is the tutorial's network: ``nn.LSTM(28, 64, batch_first=True)`` whose last
    time step feeds ``nn.Linear(64, 10)``.

    Args:
        cell: Recurrent cell: ``lstm``, ``gru`` or ``rnn`` (a plain tanh RNN).
        hidden_size: Units in each recurrent layer.
        num_layers: Stacked recurrent layers.
        dropout: Dropout between stacked layers (needs ``num_layers > 1``).
        bidirectional: Also read the rows bottom-up, concatenating both directions' final states.
        normalize_input: Standardize pixels with MNIST's mean and std before the first layer.
        input_size: Pixels per row (time-step width).
        num_classes: Output classes.
    """

    def __init__(
        self,
        cell: CellType = "lstm",
        hidden_size: int = 64,
        num_layers: int = 1,
        dropout: float = 0.0,
        bidirectional: bool = False,
        normalize_input: bool = False,
        input_size: int = 28,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        check_architecture(cell, hidden_size, num_layers, dropout, bidirectional, normalize_input)
        self.normalize_input = normalize_input
        self.rnn = _CELLS[cell](
            input_size=input_size,
            hidden_size=hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            bidirectional=bidirectional,
            batch_first=True,
        )
        self.out = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Map images ``(batch, 28, 28)`` with pixels in [0, 1] to class logits ``(batch, 10)``."""
        steps = self._read(images)
        if self.rnn.bidirectional:
            # The forward direction ends at the last row, the backward one at the first.
            hidden = self.rnn.hidden_size
            last = torch.cat([steps[:, -1, :hidden], steps[:, 0, hidden:]], dim=1)
        else:
            last = steps[:, -1, :]
        return self.out(last)

    def logits_by_row(self, images: torch.Tensor) -> torch.Tensor:
        """The head applied to the state after each row ``(batch, 28, 10)``: the network's opinion as it reads.

        The last row's are ``forward``'s logits. A bidirectional network has no such opinion: its backward direction
        has read every row before the first step's state exists, so it is refused.
        """
        if self.rnn.bidirectional:
            raise ValueError("a bidirectional network reads every row before any step: it has no opinion by row")
        return self.out(self._read(images))

    def _read(self, images: torch.Tensor) -> torch.Tensor:
        """The recurrent layers' output at each row ``(batch, 28, hidden * directions)``."""
        if self.normalize_input:
            images = (images - MNIST_MEAN) / MNIST_STD
        steps, _ = self.rnn(images)
        return steps
