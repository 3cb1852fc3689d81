"""A Transformer encoder reading an image's 28 rows as 28 tokens: attention in place of recurrence.

With its causal mask, token r attends to rows 0..r alone, so the encoder's output at each token is an opinion after
that row, as a recurrent network's state is, and the last token classifies the image. Without the mask every token
sees every row, and the image is classified from the mean of the tokens' outputs.
"""

from typing import Any

import torch
from torch import nn

from lit_rnn.model.networks import (
    IMAGE_SIZE,
    MAX_WEIGHTS,
    check_argument,
    check_positive_whole,
    check_share,
    check_weight_count,
)


def weight_count(d_model: int, num_heads: int, num_layers: int, dim_feedforward: int, num_classes: int = 10) -> int:
    """How many weights the network has, computed without building it (the heads split d_model: no weights of their
    own)."""
    attention = 4 * d_model * (d_model + 1)  # query, key, value and output projections, with biases
    feedforward = 2 * d_model * dim_feedforward + dim_feedforward + d_model
    layer = attention + feedforward + 4 * d_model  # two layer norms
    embedding = IMAGE_SIZE * d_model + d_model + IMAGE_SIZE * d_model  # a row's pixels, and its position
    return embedding + num_layers * layer + 2 * d_model + d_model * num_classes + num_classes  # final norm, head


def check_architecture(
    d_model: Any, num_heads: Any, num_layers: Any, dim_feedforward: Any, dropout: Any, causal: Any, num_classes: Any
) -> None:
    """Refuse settings the network cannot be built with, types included (a checkpoint's may be anything).

    Raises:
        ConfigError: naming the first wrong setting, before anything is allocated.
    """
    check_positive_whole("d_model", d_model)
    check_positive_whole("num_heads", num_heads)
    check_argument(
        d_model % num_heads == 0,
        "num_heads",
        num_heads,
        f"a divisor of --model.network.d_model ({d_model}), which the heads split among them",
    )
    check_positive_whole("num_layers", num_layers)
    check_positive_whole("dim_feedforward", dim_feedforward)
    check_share("dropout", dropout)
    check_argument(isinstance(causal, bool), "causal", causal, "true or false")
    check_positive_whole("num_classes", num_classes, highest=MAX_WEIGHTS)
    weights = weight_count(d_model, num_heads, num_layers, dim_feedforward, num_classes)
    if weight_count(d_model, num_heads, 1, dim_feedforward, num_classes) <= MAX_WEIGHTS:
        argument, value = "num_layers", num_layers
    elif weight_count(d_model, num_heads, 1, 1, num_classes) <= MAX_WEIGHTS:
        argument, value = "dim_feedforward", dim_feedforward
    else:
        argument, value = "d_model", d_model
    check_weight_count(
        weights,
        argument,
        value,
        f"d_model {d_model}, num_layers {num_layers} and dim_feedforward {dim_feedforward}",
    )


class RowTransformer(nn.Module):
    """Embeds each row of 28 pixels as a token, adds a learned position, and encodes the 28 tokens.

    Layer norms come before attention and the feed-forward block (``norm_first``), which trains stably at the
    learning rates that make a short run converge, without a warm-up of its own.

    Args:
        d_model: Width of each token, and of the encoder.
        num_heads: Attention heads; they split d_model, which they must divide.
        num_layers: Encoder layers.
        dim_feedforward: Units of each layer's feed-forward block.
        dropout: Dropout in the encoder layers, in [0, 1).
        causal: Mask attention so that token r sees rows 0..r alone, and classify from the last token: the network
            then has an opinion after every row (``logits_by_row``). Without it every token sees every row, and the
            mean of the tokens classifies the image.
        num_classes: Output classes.
    """

    def __init__(
        self,
        d_model: int = 64,
        num_heads: int = 4,
        num_layers: int = 2,
        dim_feedforward: int = 128,
        dropout: float = 0.0,
        causal: bool = True,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        check_architecture(d_model, num_heads, num_layers, dim_feedforward, dropout, causal, num_classes)
        self.causal = causal
        self.embed = nn.Linear(IMAGE_SIZE, d_model)
        self.position = nn.Parameter(torch.randn(IMAGE_SIZE, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(
            d_model, num_heads, dim_feedforward, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False)
        self.out = nn.Linear(d_model, num_classes)
        # Not in the state dict: it follows from causal, and a checkpoint need not carry it.
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(IMAGE_SIZE), persistent=False)

    @property
    def no_opinion_by_row(self) -> str | None:
        if not self.causal:
            return "a Transformer without its causal mask reads every row at once"
        return None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Map images ``(batch, 28, 28)`` to class logits ``(batch, num_classes)``."""
        tokens = self._encode(images)
        return self.out(tokens[:, -1] if self.causal else tokens.mean(dim=1))

    def logits_by_row(self, images: torch.Tensor) -> torch.Tensor:
        """The head applied to every token's output ``(batch, 28, num_classes)``: the opinion after each row, the last
        row's being ``forward``'s logits.

        Raises:
            ValueError: without the causal mask (``no_opinion_by_row``).
        """
        if self.no_opinion_by_row:
            raise ValueError(f"{self.no_opinion_by_row}: it has no opinion by row")
        return self.out(self._encode(images))

    def _encode(self, images: torch.Tensor) -> torch.Tensor:
        """The encoder's output at each row ``(batch, 28, d_model)``."""
        tokens = self.embed(images) + self.position
        if self.causal:
            return self.encoder(tokens, mask=self.mask, is_causal=True)
        return self.encoder(tokens)
