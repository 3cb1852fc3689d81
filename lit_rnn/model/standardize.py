"""The standardization of a network's input by its training split's pixel statistics, and a trained network with it
in front: what predict, serve and export run, images with pixels in [0, 1] in, logits out."""

import torch
from torch import nn

from lit_rnn.model.networks import no_opinion_by_row


class Standardize(nn.Module):
    """Standardizes pixels by the mean and standard deviation of the training split's pixels, set from the data when
    fit begins (``set_statistics``) and kept in every checkpoint, so that every command standardizes as training did."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(0.0))
        self.register_buffer("std", torch.tensor(1.0))

    def set_statistics(self, mean: float, std: float) -> None:
        self.mean.fill_(mean)
        self.std.fill_(std)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.mean) / self.std


class Standardized(nn.Module):
    """``network`` behind its ``standardize`` (None: the network reads pixels in [0, 1] as they are). Its weights have
    the LightningModule's names (``network.*``, ``standardize.*``), so a checkpoint's load into it as they are."""

    def __init__(self, network: nn.Module, standardize: Standardize | None) -> None:
        super().__init__()
        self.network, self.standardize = network, standardize

    def _input(self, images: torch.Tensor) -> torch.Tensor:
        return images if self.standardize is None else self.standardize(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(self._input(images))

    @property
    def no_opinion_by_row(self) -> str | None:
        return no_opinion_by_row(self.network)

    def logits_by_row(self, images: torch.Tensor) -> torch.Tensor:
        """The network's opinion after each row (``lit_rnn.model.networks``); only where ``no_opinion_by_row`` is None."""
        return self.network.logits_by_row(self._input(images))
