"""A small convolutional network: the baseline a row-reading network is measured against.

It sees the whole image at once, so it has no opinion row by row. Small widths, batch normalization and few layers
keep it quick on a CPU: with the defaults one epoch of MNIST's 55,000 training images takes a few seconds on two
cores.
"""

from typing import Any, Literal, get_args

import torch
from torch import nn

from lit_rnn.model.networks import (
    IMAGE_SIZE,
    MAX_WEIGHTS,
    check_argument,
    check_positive_whole,
    check_share,
    check_weight_count,
    is_whole,
)

Downsample = Literal["pool", "stride"]


def side_after(blocks: int) -> int:
    """The feature maps' side after ``blocks`` halvings of the 28-pixel image, rounded up as a padded convolution of
    stride 2 and a pool with ``ceil_mode`` round it: 28, 14, 7, 4, 2, 1."""
    side = IMAGE_SIZE
    for _ in range(blocks):
        side = (side + 1) // 2
    return side


def widths(channels: int, blocks: int) -> list[int]:
    """Channels of each block: doubled as the maps halve, so that each block costs about as much as the first."""
    return [channels * 2**block for block in range(blocks)]


def weight_count(channels: int, blocks: int, kernel_size: int, hidden: int, num_classes: int = 10) -> int:
    """How many weights the network has, computed without building it."""
    count, previous = 0, 1
    for width in widths(channels, blocks):
        count += width * previous * kernel_size**2 + 2 * width  # no convolution bias: the norm's shift is one
        previous = width
    features = previous * side_after(blocks) ** 2
    if hidden:
        count += features * hidden + hidden
        features = hidden
    return count + features * num_classes + num_classes


def check_architecture(
    channels: Any, blocks: Any, kernel_size: Any, downsample: Any, hidden: Any, dropout: Any, num_classes: Any
) -> None:
    """Refuse settings the network cannot be built with, types included (a checkpoint's may be anything).

    Raises:
        ConfigError: naming the first wrong setting, before anything is allocated.
    """
    check_positive_whole("channels", channels)
    check_positive_whole("blocks", blocks, highest=5)  # 28 -> 14 -> 7 -> 4 -> 2 -> 1: a sixth would halve nothing
    check_argument(
        is_whole(kernel_size) and kernel_size in (1, 3, 5, 7),
        "kernel_size",
        kernel_size,
        "1, 3, 5 or 7 (odd, so that a padded convolution keeps the maps centred)",
    )
    check_argument(downsample in get_args(Downsample), "downsample", downsample, "'pool' or 'stride'")
    check_argument(is_whole(hidden) and hidden >= 0, "hidden", hidden, "a whole number, 0 (no hidden layer) or more")
    check_share("dropout", dropout)
    check_positive_whole("num_classes", num_classes, highest=MAX_WEIGHTS)
    without_hidden_fits = weight_count(channels, blocks, kernel_size, 0, num_classes) <= MAX_WEIGHTS
    argument, value = ("hidden", hidden) if without_hidden_fits else ("channels", channels)
    check_weight_count(
        weight_count(channels, blocks, kernel_size, hidden, num_classes),
        argument,
        value,
        f"channels {channels}, blocks {blocks}, kernel_size {kernel_size} and hidden {hidden}",
    )


class ConvNet(nn.Module):
    """Convolution, batch norm and ReLU blocks, each halving the maps, then a linear head on the flattened maps.

    Args:
        channels: Channels of the first block; each later block has twice its predecessor's.
        blocks: Convolutional blocks, from 1 to 5; each halves the feature maps' side (28, 14, 7, 4, 2, 1).
        kernel_size: Side of every convolution's kernel (1, 3, 5 or 7), padded to keep the maps' size.
        downsample: How a block halves its maps: ``stride`` computes its convolution at every second pixel (a quarter
            of the work of ``pool``'s, which convolves every pixel and keeps the largest of each 2x2 square).
        hidden: Units of a hidden linear layer (with ReLU) between the maps and the classes; 0 for none.
        dropout: Dropout on the flattened maps (and on the hidden layer's output), in [0, 1).
        num_classes: Output classes.
    """

    def __init__(
        self,
        channels: int = 16,
        blocks: int = 2,
        kernel_size: int = 5,
        downsample: Downsample = "stride",
        hidden: int = 64,
        dropout: float = 0.0,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        check_architecture(channels, blocks, kernel_size, downsample, hidden, dropout, num_classes)
        layers: list[nn.Module] = []
        previous, stride = 1, 2 if downsample == "stride" else 1
        for width in widths(channels, blocks):
            layers += [
                nn.Conv2d(previous, width, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            if downsample == "pool":
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
            previous = width
        self.features = nn.Sequential(*layers)
        features = previous * side_after(blocks) ** 2
        head: list[nn.Module] = [nn.Flatten(), nn.Dropout(dropout)]
        if hidden:
            head += [nn.Linear(features, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            features = hidden
        self.head = nn.Sequential(*head, nn.Linear(features, num_classes))
        # Kernels stored channels-last make each convolution's output channels-last too, the layout oneDNN's CPU
        # convolutions (and GPUs' tensor cores) run fastest in; the network computes the same function either way.
        self.to(memory_format=torch.channels_last)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Map images ``(batch, 28, 28)`` to class logits ``(batch, num_classes)``."""
        return self.head(self.features(images.unsqueeze(1)))
