"""Pictures for TensorBoard drawn with Pillow: captioned grids of digits and a confusion matrix, as image tensors.

TensorBoard shrinks a picture to fit its card, and shows it at its natural size when asked (the IMAGES tab's
"Show actual image size", a TIME SERIES card's actual-size button). So the text is drawn large enough to
read at the natural size, and the pictures narrow enough to be seen whole at it on an ordinary screen.
"""

from collections.abc import Sequence
from functools import cache

import torch
from PIL import Image, ImageDraw, ImageFont
from torchvision.transforms.functional import pil_to_tensor
from torchvision.utils import make_grid

ZOOM = 4  # screen pixels per MNIST pixel, nearest-neighbour so the digits stay crisp
FONT_SIZE = 18  # pixels per em: its digits are 13 pixels tall, the size of a web page's small print
LINE_HEIGHT = 24  # the font's ascent and descent, and a little air
MARGIN = 6  # between a caption and the edges of its tile, or a count and its cell's
HIGH = (31, 119, 180)  # the colour of a cell that holds its whole row


@cache
def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=FONT_SIZE)


def _as_tensor(image: Image.Image) -> torch.Tensor:
    return pil_to_tensor(image).float() / 255


def _text_width(texts: Sequence[str]) -> int:
    """The width of the widest of ``texts``, in pixels."""
    return round(max(_font().getlength(text) for text in texts))


def digit_grid(images: torch.Tensor, captions: Sequence[str], columns: int = 8) -> torch.Tensor:
    """Images ``(N, 28, 28)`` with pixels in [0, 1], each above its caption (lines split on ``\\n``), as ``(3, H, W)``.

    Every tile is as wide as the widest caption line needs, at least as wide as the zoomed digit.
    """
    lines = [caption.split("\n") for caption in captions]
    width = max(images.shape[-1] * ZOOM, _text_width([line for caption in lines for line in caption]) + 2 * MARGIN)
    most_lines = max(len(caption) for caption in lines)
    tiles = [_as_tensor(_digit_tile(image, caption, width, most_lines)) for image, caption in zip(images, lines)]
    return make_grid(torch.stack(tiles), nrow=columns, padding=2, pad_value=0.5)


def _digit_tile(image: torch.Tensor, caption: list[str], width: int, lines: int) -> Image.Image:
    side = image.shape[-1] * ZOOM
    digit = Image.fromarray((image.detach().cpu().float() * 255).round().byte().numpy()).resize(
        (side, side), Image.Resampling.NEAREST
    )
    tile = Image.new("RGB", (width, side + lines * LINE_HEIGHT), "white")
    tile.paste(digit.convert("RGB"), ((width - side) // 2, 0))
    draw = ImageDraw.Draw(tile)
    for row, line in enumerate(caption):
        draw.text((width / 2, side + (row + 0.5) * LINE_HEIGHT), line, fill="black", font=_font(), anchor="mm")
    return tile


def text_picture(text: str) -> torch.Tensor:
    """A line of text as an image ``(3, H, W)``: what a figure shows when there is nothing to draw."""
    width = _text_width([text]) + 2 * LINE_HEIGHT
    picture = Image.new("RGB", (width, 2 * LINE_HEIGHT), "white")
    ImageDraw.Draw(picture).text((width / 2, LINE_HEIGHT), text, fill="black", font=_font(), anchor="mm")
    return _as_tensor(picture)


def class_label(index: int, names: Sequence[str]) -> str:
    """A class as its number and name (``7 Sneaker``), or its number alone where that is its name (MNIST's digits)."""
    return names[index] if names[index] == str(index) else f"{index} {names[index]}"


def confusion_matrix_picture(matrix: torch.Tensor, class_names: Sequence[str] | None = None) -> torch.Tensor:
    """A confusion matrix ``(K, K)`` (rows: true class, columns: predicted) as an image ``(3, H, W)``.

    Each cell shows its count, shaded by the share of its row, so the errors of rare and frequent
    classes are equally visible. The cells are square, and wide enough for the largest count. Each row is labelled
    by its class's number and name, each column by its number.
    """
    classes = len(matrix)
    names = class_names or [str(index) for index in range(classes)]
    row_labels = [class_label(index, names) for index in range(classes)]
    shares = (matrix / matrix.sum(dim=1, keepdim=True).clamp(min=1)).tolist()
    counts = [[str(count) for count in row] for row in matrix.tolist()]
    cell = max(2 * LINE_HEIGHT, _text_width([count for row in counts for count in row]) + 2 * MARGIN)
    top, left = 2 * LINE_HEIGHT + MARGIN, _text_width(row_labels) + 2 * MARGIN
    title = "rows: true class, columns: predicted"
    width = max(left + classes * cell + MARGIN, _text_width([title]) + 2 * MARGIN)
    picture = Image.new("RGB", (width, top + classes * cell + MARGIN), "white")
    draw = ImageDraw.Draw(picture)
    draw.text((MARGIN, MARGIN), title, fill="black", font=_font())
    for index in range(classes):
        middle = index * cell + cell / 2
        draw.text((left + middle, top - LINE_HEIGHT / 2), str(index), fill="black", font=_font(), anchor="mm")
        draw.text((left - MARGIN, top + middle), row_labels[index], fill="black", font=_font(), anchor="rm")
    for row in range(classes):
        for column in range(classes):
            share = shares[row][column]
            colour = tuple(round(255 + (high - 255) * share) for high in HIGH)
            x, y = left + column * cell, top + row * cell
            draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=colour, outline=(220, 220, 220))
            text = "white" if share > 0.5 else "black"
            draw.text((x + cell / 2, y + cell / 2), counts[row][column], fill=text, font=_font(), anchor="mm")
    return _as_tensor(picture)
