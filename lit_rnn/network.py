"""The recurrent classifier as a plain ``nn.Module``: usable, testable and exportable without Lightning."""

from typing import Literal

import torch
from torch import nn

CellType = Literal["lstm", "gru", "rnn"]

_CELLS: dict[str, type[nn.RNNBase]] = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}

# MNIST's training-set pixel mean and standard deviation, on the [0, 1] scale.
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


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
        if self.normalize_input:
            images = (images - MNIST_MEAN) / MNIST_STD
        steps, _ = self.rnn(images)
        if self.rnn.bidirectional:
            # The forward direction ends at the last row, the backward one at the first.
            hidden = self.rnn.hidden_size
            last = torch.cat([steps[:, -1, :hidden], steps[:, 0, hidden:]], dim=1)
        else:
            last = steps[:, -1, :]
        return self.out(last)
