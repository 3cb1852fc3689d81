"""The recurrent family: an LSTM, GRU or plain RNN reading an image row by row, classifying it from its last step.

With the defaults this is the tutorial's network: ``nn.LSTM(28, 64, batch_first=True)`` whose last step feeds
``nn.Linear(64, 10)``.
"""

from typing import Any, Literal, get_args

import torch
from torch import nn

from lit_rnn.model.networks import (
    IMAGE_SIZE,
    MAX_WEIGHTS,
    check_argument,
    check_positive_whole,
    check_stacked_layers,
    check_weight_count,
    is_whole,
)

CellType = Literal["lstm", "gru", "rnn"]

_CELLS: dict[str, type[nn.RNNBase]] = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
_GATES = {"lstm": 4, "gru": 3, "rnn": 1}  # weight matrices per layer and direction


def weight_count(
    cell: str,
    hidden_size: int,
    num_layers: int,
    bidirectional: bool,
    input_size: int = IMAGE_SIZE,
    num_classes: int = 10,
) -> int:
    """How many weights the network has, computed without building it."""
    directions = 2 if bidirectional else 1

    def layer(layer_input: int) -> int:
        return directions * _GATES[cell] * hidden_size * (layer_input + hidden_size + 2)  # two bias vectors

    upper_layers = (num_layers - 1) * layer(hidden_size * directions)
    return layer(input_size) + upper_layers + hidden_size * directions * num_classes + num_classes


def check_architecture(
    cell: Any,
    hidden_size: Any,
    num_layers: Any,
    dropout: Any,
    bidirectional: Any,
    rows_per_step: Any = 1,
    crop_rows: Any = 0,
    num_classes: Any = 10,
) -> None:
    """Refuse settings the network cannot be built with, types included (a checkpoint's may be anything).

    Raises:
        ConfigError: naming the first wrong setting, before anything is allocated.
    """
    check_argument(cell in _CELLS, "cell", cell, f"one of {', '.join(map(repr, get_args(CellType)))}")
    check_stacked_layers(hidden_size, num_layers, dropout)
    check_argument(isinstance(bidirectional, bool), "bidirectional", bidirectional, "true or false")
    check_argument(
        is_whole(crop_rows) and 0 <= crop_rows < IMAGE_SIZE // 2,
        "crop_rows",
        crop_rows,
        f"a whole number from 0 to {IMAGE_SIZE // 2 - 1} (rows cut from the top and from the bottom)",
    )
    read = IMAGE_SIZE - 2 * crop_rows
    fitting = [count for count in range(1, read + 1) if read % count == 0]
    check_argument(
        is_whole(rows_per_step) and rows_per_step in fitting,
        "rows_per_step",
        rows_per_step,
        f"one of {', '.join(map(str, fitting))}: the {read} rows read (28 less twice crop_rows) in steps of "
        "as many rows each",
    )
    check_positive_whole("num_classes", num_classes, highest=MAX_WEIGHTS)
    step_width = IMAGE_SIZE * rows_per_step
    weights = weight_count(cell, hidden_size, num_layers, bidirectional, step_width, num_classes)
    one_layer_fits = weight_count(cell, hidden_size, 1, bidirectional, step_width, num_classes) <= MAX_WEIGHTS
    argument, value = ("num_layers", num_layers) if one_layer_fits else ("hidden_size", hidden_size)
    check_weight_count(weights, argument, value, f"hidden_size {hidden_size} and num_layers {num_layers}")


class RecurrentNetwork(nn.Module):
    """Reads a 28x28 image row by row (28 steps of 28 pixels) and classifies it from the last step.

    Args:
        cell: Recurrent cell: ``lstm`` (the tutorial's), ``gru`` or ``rnn`` (a plain tanh RNN).
        hidden_size: Units in each recurrent layer.
        num_layers: Stacked recurrent layers.
        dropout: Dropout between stacked layers, in [0, 1); needs ``num_layers > 1``.
        bidirectional: Also read the rows bottom-up, concatenating both directions' final states.
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
        rows_per_step: int = 1,
        crop_rows: int = 0,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        check_architecture(cell, hidden_size, num_layers, dropout, bidirectional, rows_per_step, crop_rows, num_classes)
        self.rows_per_step, self.crop_rows = rows_per_step, crop_rows
        self.rnn = _CELLS[cell](
            input_size=IMAGE_SIZE * rows_per_step,
            hidden_size=hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            bidirectional=bidirectional,
            batch_first=True,
        )
        self.out = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    @property
    def no_opinion_by_row(self) -> str | None:
        if self.rnn.bidirectional:
            return "a bidirectional network reads every row before its first state exists"
        return None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Map images ``(batch, 28, 28)`` to class logits ``(batch, num_classes)``."""
        steps = self._read(images)
        if self.rnn.bidirectional:
            # The forward direction ends at the last row, the backward one at the first.
            hidden = self.rnn.hidden_size
            last = torch.cat([steps[:, -1, :hidden], steps[:, 0, hidden:]], dim=1)
        else:
            last = steps[:, -1, :]
        return self.out(last)

    def logits_by_row(self, images: torch.Tensor) -> torch.Tensor:
        """The head applied to the state after each row ``(batch, 28, num_classes)``: the opinion as it reads.

        Row r's is the state once the network has read every row up to r that it reads at all: a network reading
        several rows a step keeps an opinion until its step's last row, and before its first step (rows cropped at the
        top) it holds the opinion of its initial, zero, state; after the last row it reads, its answer. The last
        row's are ``forward``'s logits.

        Raises:
            ValueError: for a bidirectional network (``no_opinion_by_row``).
        """
        if self.no_opinion_by_row:
            raise ValueError(f"{self.no_opinion_by_row}: it has no opinion by row")
        steps = self._read(images)
        before = steps.new_zeros(len(steps), 1, steps.shape[2])  # the state before the first step
        steps_done = [
            min(max(row + 1 - self.crop_rows, 0) // self.rows_per_step, steps.shape[1]) for row in range(IMAGE_SIZE)
        ]
        return self.out(torch.cat([before, steps], dim=1)[:, steps_done])

    def _read(self, images: torch.Tensor) -> torch.Tensor:
        """The recurrent layers' output at each step ``(batch, steps, hidden * directions)``."""
        if self.crop_rows:
            images = images[:, self.crop_rows : IMAGE_SIZE - self.crop_rows]
        if self.rows_per_step > 1:  # (batch, rows, 28) -> (batch, steps, rows_per_step * 28), the batch size left free
            images = images.unflatten(1, (-1, self.rows_per_step)).flatten(2)
        steps, _ = self.rnn(images)
        return steps
