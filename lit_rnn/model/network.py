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

MNIST_SIZE = 28  # rows of an image, and pixels in a row

ARCHITECTURE_KEYS = (
    "cell",
    "hidden_size",
    "num_layers",
    "dropout",
    "bidirectional",
    "normalize_input",
    "rows_per_step",
    "crop_rows",
)
"""The settings that define the network, and all that a checkpoint's hyperparameters need to rebuild it."""

# 400 MB of float32 weights, three times that with Adam's two states: far more than a reader of 28x28
# digits needs, and a bound that stops a typo such as hidden_size 10**12 before it allocates anything.
MAX_WEIGHTS = 100_000_000


def weight_count(
    cell: str,
    hidden_size: int,
    num_layers: int,
    bidirectional: bool,
    input_size: int = MNIST_SIZE,
    num_classes: int = 10,
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
    cell: Any,
    hidden_size: Any,
    num_layers: Any,
    dropout: Any,
    bidirectional: Any,
    normalize_input: Any,
    rows_per_step: Any = 1,
    crop_rows: Any = 0,
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
    check_config(
        _is_whole(crop_rows) and 0 <= crop_rows < MNIST_SIZE // 2,
        "model.crop_rows",
        crop_rows,
        f"a whole number from 0 to {MNIST_SIZE // 2 - 1} (rows cut from the top and from the bottom)",
    )
    read = MNIST_SIZE - 2 * crop_rows
    fitting = [count for count in range(1, read + 1) if read % count == 0]
    check_config(
        _is_whole(rows_per_step) and rows_per_step in fitting,
        "model.rows_per_step",
        rows_per_step,
        f"one of {', '.join(map(str, fitting))}: the {read} rows read (28 less twice --model.crop_rows) in steps of "
        "as many rows each",
    )
    step_width = MNIST_SIZE * rows_per_step
    weights = weight_count(cell, hidden_size, num_layers, bidirectional, step_width)
    one_layer_fits = weight_count(cell, hidden_size, 1, bidirectional, step_width) <= MAX_WEIGHTS
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
        rows_per_step: Rows read at each step, side by side: 2 reads the image in 14 steps of 56 pixels. A step
            costs little more than a one-row step, since the rows' input weights are applied to all steps at once.
        crop_rows: Rows not read at the top and at the bottom. MNIST centres each digit's 20x20 box by its mass, so
            the first and last few rows are almost always black: 4 leaves 20 rows to read.
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
        rows_per_step: int = 1,
        crop_rows: int = 0,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        check_architecture(
            cell, hidden_size, num_layers, dropout, bidirectional, normalize_input, rows_per_step, crop_rows
        )
        self.normalize_input, self.rows_per_step, self.crop_rows = normalize_input, rows_per_step, crop_rows
        self.rnn = _CELLS[cell](
            input_size=MNIST_SIZE * rows_per_step,
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

        Row r's is the state once the network has read every row up to r that it reads at all: a network reading
        several rows a step keeps an opinion until its step's last row, and before its first step (rows cropped at the
        top) it holds the opinion of its initial, zero, state; after the last row it reads, its answer. The last
        row's are ``forward``'s logits. A bidirectional network has no such opinion: its backward direction has read
        every row before the first step's state exists, so it is refused.
        """
        if self.rnn.bidirectional:
            raise ValueError("a bidirectional network reads every row before any step: it has no opinion by row")
        steps = self._read(images)
        before = steps.new_zeros(len(steps), 1, steps.shape[2])  # the state before the first step
        steps_done = [
            min(max(row + 1 - self.crop_rows, 0) // self.rows_per_step, steps.shape[1]) for row in range(MNIST_SIZE)
        ]
        return self.out(torch.cat([before, steps], dim=1)[:, steps_done])

    def _read(self, images: torch.Tensor) -> torch.Tensor:
        """The recurrent layers' output at each step ``(batch, steps, hidden * directions)``."""
        if self.normalize_input:
            images = (images - MNIST_MEAN) / MNIST_STD
        if self.crop_rows:
            images = images[:, self.crop_rows : MNIST_SIZE - self.crop_rows]
        if self.rows_per_step > 1:  # (batch, rows, 28) -> (batch, steps, rows_per_step * 28), the batch size left free
            images = images.unflatten(1, (-1, self.rows_per_step)).flatten(2)
        steps, _ = self.rnn(images)
        return steps
