"""minGRU ("Were RNNs All We Needed?", Feng et al. 2024): a recurrence whose gates read the row alone, not the state.

``h_t = (1 - z_t) * h_{t-1} + z_t * h~_t``, with ``z_t = sigmoid(W_z x_t)`` and ``h~_t = W_h x_t`` depending on row t
only: the state is a linear function of the past, so the 28 steps are computed by a parallel scan (``linear_scan``)
instead of one after another. This is the paper's plain form, not its log-space one: the log-space scan
(``torch.logcumsumexp``, which exports to ONNX too) took three times as long a step on two CPU cores, its
logcumsumexp and softplus alone most of it.

Each layer after the first adds its output to its input (a residual connection, after a layer norm), as the
paper's stacked models do; the last step's state, normalized, is classified.
"""

from typing import Any

import torch
from torch import nn

from lit_rnn.model.networks import (
    IMAGE_SIZE,
    MAX_WEIGHTS,
    check_positive_whole,
    check_stacked_layers,
    check_weight_count,
)


def weight_count(hidden_size: int, num_layers: int, num_classes: int = 10) -> int:
    """How many weights the network has, computed without building it."""
    first = 2 * hidden_size * (IMAGE_SIZE + 1)  # the gate and the candidate, with biases
    later = 2 * hidden_size * (hidden_size + 1) + 2 * hidden_size  # and the layer norm before it
    return first + (num_layers - 1) * later + 2 * hidden_size + hidden_size * num_classes + num_classes


def check_architecture(hidden_size: Any, num_layers: Any, dropout: Any, num_classes: Any) -> None:
    """Refuse settings the network cannot be built with, types included (a checkpoint's may be anything).

    Raises:
        ConfigError: naming the first wrong setting, before anything is allocated.
    """
    check_stacked_layers(hidden_size, num_layers, dropout)
    check_positive_whole("num_classes", num_classes, highest=MAX_WEIGHTS)
    one_layer_fits = weight_count(hidden_size, 1, num_classes) <= MAX_WEIGHTS
    argument, value = ("num_layers", num_layers) if one_layer_fits else ("hidden_size", hidden_size)
    check_weight_count(
        weight_count(hidden_size, num_layers, num_classes),
        argument,
        value,
        f"hidden_size {hidden_size} and num_layers {num_layers}",
    )


def linear_scan(keep: torch.Tensor, write: torch.Tensor) -> torch.Tensor:
    """Every step's ``h_t = keep_t * h_{t-1} + write_t`` from ``h_0 = 0``, along dim 1, by recursive doubling.

    Step t composed with the step ``shift`` before it is again such a step (keep ``keep_t * keep_{t-shift}``, write
    ``write_t + keep_t * write_{t-shift}``); after the shifts 1, 2, 4, 8 and 16 each of 28 steps holds its whole
    prefix: 5 rounds of whole-tensor products, not 28 steps in turn. Products of keeps in (0, 1) only shrink, to 0 at
    worst, which is their value: nothing divides by them, and no logarithm is needed.
    """
    shift = 1
    while shift < keep.shape[1]:
        write = torch.cat([write[:, :shift], write[:, shift:] + keep[:, shift:] * write[:, :-shift]], dim=1)
        keep = torch.cat([keep[:, :shift], keep[:, shift:] * keep[:, :-shift]], dim=1)
        shift *= 2
    return write


class MinGRULayer(nn.Module):
    """One minGRU layer over a whole sequence ``(batch, steps, inputs) -> (batch, steps, hidden_size)``, from h_0 = 0."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.gate_and_candidate = nn.Linear(input_size, 2 * hidden_size)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        gate, candidate = self.gate_and_candidate(inputs).chunk(2, dim=-1)
        write = torch.sigmoid(gate)
        return linear_scan(1 - write, write * candidate)


class MinGRUNetwork(nn.Module):
    """Reads a 28x28 image row by row with stacked minGRU layers, all steps at once, and classifies the last step.

    Args:
        hidden_size: Units in each minGRU layer.
        num_layers: Stacked layers; each after the first adds its output to its input.
        dropout: Dropout between stacked layers, in [0, 1); needs ``num_layers > 1``.
        num_classes: Output classes.
    """

    def __init__(self, hidden_size: int = 96, num_layers: int = 4, dropout: float = 0.0, num_classes: int = 10) -> None:
        super().__init__()
        check_architecture(hidden_size, num_layers, dropout, num_classes)
        self.first = MinGRULayer(IMAGE_SIZE, hidden_size)
        self.norms = nn.ModuleList(nn.LayerNorm(hidden_size) for _ in range(num_layers - 1))
        self.layers = nn.ModuleList(MinGRULayer(hidden_size, hidden_size) for _ in range(num_layers - 1))
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(hidden_size)
        self.out = nn.Linear(hidden_size, num_classes)

    no_opinion_by_row = None  # every setting reads the rows in order

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Map images ``(batch, 28, 28)`` to class logits ``(batch, num_classes)``."""
        return self.out(self._read(images)[:, -1])

    def logits_by_row(self, images: torch.Tensor) -> torch.Tensor:
        """The head applied to the state after each row ``(batch, 28, num_classes)``: the opinion as it reads, the last
        row's being ``forward``'s logits."""
        return self.out(self._read(images))

    def _read(self, images: torch.Tensor) -> torch.Tensor:
        """The last layer's normalized state after each row ``(batch, 28, hidden_size)``."""
        states = self.first(images)
        for norm, layer in zip(self.norms, self.layers):
            states = states + self.dropout(layer(norm(states)))
        return self.norm(states)
