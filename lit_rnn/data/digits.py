"""A picture of one digit, of any size and either polarity, turned into an image like MNIST's.

MNIST was made this way (LeCun et al.): the digit's bounding box is scaled with anti-aliasing to fit a
20x20 box, keeping its aspect ratio, and the result is placed in a 28x28 field so that its centre of
mass falls on pixel (14, 14); the digit is light on a black background. The model only knows digits
made so, which is why a user's picture must be made so too.
"""

import io
import os
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from lit_rnn.base.errors import UserError, summarize

MNIST_SIZE = 28
DIGIT_BOX = 20
# Ink fainter than this share of the darkest stroke is paper texture, shadow or compression noise.
NOISE_FLOOR = 0.25
# Pillow's 8-bit conversion clips these modes instead of scaling them, so they are read as numbers.
_NUMERIC_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


BLANK = "is blank: no digit stands out from its background. Crop the picture to one clear digit."


class ImageError(UserError):
    """An image file could not be read, or holds no digit."""


def read_digit(path: str | Path) -> torch.Tensor:
    """Read an image file of one digit as a uint8 MNIST image ``(28, 28)``.

    Raises:
        ImageError: naming the file, for whatever made it unreadable, so that the other files are still read.
    """
    if os.path.lexists(path) and not Path(path).is_file():  # a folder, a device, a pipe that would block
        kind = "a folder" if Path(path).is_dir() else "not a regular file"
        raise ImageError(f"{path} could not be read (it is {kind}): give a PNG or JPEG file of one digit.")
    return _decode(path, str(path))


def decode_digit(picture: bytes, name: str, max_pixels: int | None = None) -> torch.Tensor:
    """``read_digit`` for a picture held in memory (an upload), refusing one of more than ``max_pixels`` pixels
    before it is decoded: a server holds many at once, and a small compressed file can decode to gigabytes.

    Raises:
        ImageError: starting with ``name`` (such as "The picture"), for whatever made it unreadable.
    """
    return _decode(io.BytesIO(picture), name, max_pixels)


def _decode(source: str | Path | BinaryIO, name: str, max_pixels: int | None = None) -> torch.Tensor:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # decoders' remarks on metadata change nothing in the digit
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                if max_pixels is not None and image.width * image.height > max_pixels:
                    raise ImageError(
                        f"is {image.width}x{image.height} pixels, more than the {max_pixels:,} allowed: scale it down; "
                        "a few hundred pixels a side are plenty for one digit."
                    )
                return to_mnist(image)
    except ImageError as error:
        raise ImageError(f"{name} {error}") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name} is not an image Pillow can read: give a PNG or JPEG file of one digit.") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
        raise ImageError(
            f"{name} is too large to read safely ({error}): scale it down; a few hundred pixels a side "
            "are plenty for one digit."
        ) from None
    except OSError as error:  # missing, unreadable, a truncated file
        reason = error.strerror or str(error)
        raise ImageError(
            f"{name} could not be read ({reason}): give a readable PNG or JPEG file of one digit."
        ) from None
    except Exception as error:  # Pillow's many decoders fail in many ways: ValueError, SyntaxError, struct.error...
        raise ImageError(
            f"{name} could not be read ({summarize(error)}): give a readable PNG or JPEG file of one digit."
        ) from None


def to_mnist(image: Image.Image) -> torch.Tensor:
    """Make a picture of one digit into a uint8 MNIST image ``(28, 28)``: light digit, dark background."""
    box = _bounding_box(_ink(image))
    if box is None:
        raise ImageError(BLANK)
    height, width = box.shape
    scale = DIGIT_BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    digit = np.asarray(Image.fromarray(box).resize(size, Image.Resampling.LANCZOS)).clip(0, None)
    if digit.max() == 0:  # specks far apart, lost in the scaling
        raise ImageError(BLANK)
    digit *= 255 / digit.max()  # MNIST's strokes all peak at full brightness
    return torch.from_numpy(_centre_by_mass(digit).round().astype(np.uint8))


def _ink(image: Image.Image) -> np.ndarray:
    """How much ink each pixel holds, from 0 (background) to 1 (the strongest stroke), whatever the polarity."""
    image = ImageOps.exif_transpose(image)
    ink = _opacity(image)
    if ink is None:
        # In float64, so that no difference of two float32 pixels overflows.
        gray = np.asarray(image if image.mode in _NUMERIC_MODES else image.convert("L"), dtype=np.float64)
        if not np.isfinite(gray).all():
            raise ImageError("holds pixels that are not numbers (NaN or infinite): give a picture of ordinary pixels.")
        border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
        # The background is what the border mostly shows; ink is what differs from it, darker or lighter.
        ink = np.abs(gray - np.median(border))
    if ink.max() > 0:
        ink /= ink.max()
        ink[ink < NOISE_FLOOR] = 0
    return ink.astype(np.float32)


def _opacity(image: Image.Image) -> np.ndarray | None:
    """A digit drawn on a transparent canvas is what is opaque, whatever its colour; None if all is opaque."""
    if not image.has_transparency_data:
        return None
    alpha = np.asarray(image.convert("RGBA").getchannel("A"), dtype=np.float32)
    return alpha if alpha.min() < alpha.max() else None


def _bounding_box(ink: np.ndarray) -> np.ndarray | None:
    """The inked part of the picture, or None if there is no ink."""
    rows, columns = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if len(rows) == 0:
        return None
    return ink[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]


def _centre_by_mass(digit: np.ndarray) -> np.ndarray:
    """Place the scaled digit in a 28x28 field with its centre of mass on the field's centre pixel.

    The digit is shifted by whole pixels, as MNIST's were, and kept wholly inside the field.
    """
    height, width = digit.shape
    mass = digit.sum()
    centre_row = (digit.sum(axis=1) * np.arange(height)).sum() / mass
    centre_column = (digit.sum(axis=0) * np.arange(width)).sum() / mass
    middle = MNIST_SIZE // 2
    top = int(np.clip(round(middle - centre_row), 0, MNIST_SIZE - height))
    left = int(np.clip(round(middle - centre_column), 0, MNIST_SIZE - width))
    field = np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=np.float32)
    field[top : top + height, left : left + width] = digit
    return field
