"""Pictures for TensorBoard drawn with Pillow: captioned grids of digits and a confusion matrix, as image tensors."""

from collections.abc import Sequence
from functools import cache

import torch
from PIL import Image, ImageDraw, ImageFont
from torchvision.transforms.functional import pil_to_tensor
from torchvision.utils import make_grid

ZOOM = 4  # screen pixels per MNIST pixel
LINE_HEIGHT = 14
CELL = 36  # a confusion matrix cell, in pixels
HIGH = (31, 119, 180)  # the colour of a cell that holds its whole row


@cache
def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=11)


def _as_tensor(image: Image.Image) -> torch.Tensor:
    return pil_to_tensor(image).float() / 255


def digit_grid(images: torch.Tensor, captions: Sequence[str], columns: int = 8) -> torch.Tensor:
    """Images ``(N, 28, 28)`` with pixels in [0, 1], each above its caption (lines split on ``\\n``), as ``(3, H, W)``."""
    lines = max(caption.count("\n") + 1 for caption in captions)
    tiles = [_as_tensor(_digit_tile(image, caption, lines)) for image, caption in zip(images, captions)]
    return make_grid(torch.stack(tiles), nrow=columns, padding=2, pad_value=0.5)


def _digit_tile(image: torch.Tensor, caption: str, lines: int) -> Image.Image:
    side = image.shape[-1] * ZOOM
    digit = Image.fromarray((image.detach().cpu().float() * 255).round().byte().numpy()).resize((side, side), Image.Resampling.NEAREST)
    tile = Image.new("RGB", (side, side + lines * LINE_HEIGHT), "white")
    tile.paste(digit.convert("RGB"))
    draw = ImageDraw.Draw(tile)
    for row, line in enumerate(caption.split("\n")):
        draw.text((side / 2, side + (row + 0.5) * LINE_HEIGHT), line, fill="black", font=_font(), anchor="mm")
    return tile


def text_picture(text: str) -> torch.Tensor:
    """A line of text as an image ``(3, H, W)``: what a figure shows when there is nothing to draw."""
    width = round(_font().getlength(text)) + 2 * LINE_HEIGHT
    picture = Image.new("RGB", (width, 2 * LINE_HEIGHT), "white")
    ImageDraw.Draw(picture).text((width / 2, LINE_HEIGHT), text, fill="black", font=_font(), anchor="mm")
    return _as_tensor(picture)


def confusion_matrix_picture(matrix: torch.Tensor) -> torch.Tensor:
    """A confusion matrix ``(K, K)`` (rows: true class, columns: predicted) as an image ``(3, H, W)``.

    Each cell shows its count, shaded by the share of its row, so the errors of rare and frequent
    classes are equally visible.
    """
    classes = len(matrix)
    shares = (matrix / matrix.sum(dim=1, keepdim=True).clamp(min=1)).tolist()
    counts = matrix.tolist()
    top, left = 2 * LINE_HEIGHT + CELL // 2, CELL
    picture = Image.new("RGB", (left + classes * CELL + 4, top + classes * CELL + 4), "white")
    draw = ImageDraw.Draw(picture)
    draw.text((4, 4), "rows: true digit, columns: predicted", fill="black", font=_font())
    for index in range(classes):
        middle = index * CELL + CELL / 2
        draw.text((left + middle, top - CELL / 4), str(index), fill="black", font=_font(), anchor="mm")
        draw.text((left / 2, top + middle), str(index), fill="black", font=_font(), anchor="mm")
    for row in range(classes):
        for column in range(classes):
            share = shares[row][column]
            colour = tuple(round(255 + (high - 255) * share) for high in HIGH)
            x, y = left + column * CELL, top + row * CELL
            draw.rectangle((x, y, x + CELL - 1, y + CELL - 1), fill=colour, outline=(220, 220, 220))
            text = "white" if share > 0.5 else "black"
            draw.text((x + CELL / 2, y + CELL / 2), str(counts[row][column]), fill=text, font=_font(), anchor="mm")
    return _as_tensor(picture)
