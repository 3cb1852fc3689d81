"""A user's picture of a digit becomes an image like MNIST's, whatever its size, format and polarity."""

import os
import re

import numpy as np
import pytest
import torch
from helpers.drawings import draw_seven
from PIL import Image

from lit_rnn.data.datamodule import load_images
from lit_rnn.data.digits import ImageError, read_digit


def centre_of_mass(image: torch.Tensor) -> tuple[float, float]:
    mass = image.float()
    positions = torch.arange(28.0)
    return ((mass.sum(1) * positions).sum() / mass.sum()).item(), ((mass.sum(0) * positions).sum() / mass.sum()).item()


def inked_box(image: torch.Tensor) -> tuple[int, int]:
    rows, columns = image.any(1).nonzero(), image.any(0).nonzero()
    return int(rows.max() - rows.min() + 1), int(columns.max() - columns.min() + 1)


def test_a_drawn_seven_is_made_the_way_mnist_was(tmp_path):
    seven = read_digit(draw_seven(tmp_path / "seven.png"))
    assert seven.shape == (28, 28) and seven.dtype == torch.uint8
    assert seven.max() == 255 and seven[0].sum() == seven[-1].sum() == 0  # light digit on black
    assert max(inked_box(seven)) == 20  # the longer side fills the 20x20 box
    height, width = inked_box(seven)
    assert width < height  # the 7's aspect ratio is kept, not stretched to a square
    row, column = centre_of_mass(seven)
    assert abs(row - 14) <= 0.5 and abs(column - 14) <= 0.5  # as MNIST's, whose mean is (13.99, 14.01)


@pytest.mark.parametrize(
    "ink, paper, mode",
    [
        ("white", "black", "L"),  # the other polarity
        ((30, 30, 200, 255), (0, 0, 0, 0), "RGBA"),  # blue ink on a transparent canvas
        ((30, 30, 200), (250, 240, 200), "RGB"),  # blue ink on cream paper
        (0, 65535, "I;16"),  # a 16-bit grayscale PNG
    ],
)
def test_any_polarity_colour_or_depth_gives_the_same_image(tmp_path, ink, paper, mode):
    reference = read_digit(draw_seven(tmp_path / "black_on_white.png"))
    assert torch.equal(read_digit(draw_seven(tmp_path / "other.png", ink, paper, mode=mode)), reference)


def test_size_position_and_jpeg_change_little(tmp_path):
    reference = read_digit(draw_seven(tmp_path / "seven.png")).float()
    big = Image.new("L", (2400, 1000), 235)  # a big grey sheet with the 7 off to one side
    big.paste(Image.open(draw_seven(tmp_path / "big.png", size=(600, 800))), (1500, 100))
    big.save(tmp_path / "photo.jpg", quality=75)
    assert (read_digit(tmp_path / "photo.jpg").float() - reference).abs().mean() < 8  # of 255


def test_mnist_digits_come_back_as_they_were(real_mnist, tmp_path):
    """MNIST's own digits, printed ten times larger in black on white and read back, are nearly unchanged."""
    images, _ = load_images(real_mnist, train=False)
    differences = []
    for index, image in enumerate(images[:50]):
        path = tmp_path / f"{index}.jpg"
        Image.fromarray(255 - image.numpy()).resize((280, 280), Image.Resampling.BICUBIC).save(path, quality=90)
        differences.append((read_digit(path).float() - image.float()).abs().mean().item())
    assert np.mean(differences) < 10 and max(differences) < 25  # of 255; measured 6.5 on average


def test_a_file_that_is_not_an_image_names_itself(tmp_path):
    (tmp_path / "notes.png").write_text("not a picture")
    with pytest.raises(ImageError, match=r"notes\.png is not an image"):
        read_digit(tmp_path / "notes.png")


@pytest.mark.parametrize("name", ["missing.png", "."])
def test_a_missing_or_unreadable_file_names_itself(tmp_path, name):
    with pytest.raises(ImageError, match=re.escape(f"{tmp_path / name} could not be read (")):
        read_digit(tmp_path / name)


def test_a_blank_picture_says_so(tmp_path):
    Image.new("L", (50, 50), 200).save(tmp_path / "blank.png")
    with pytest.raises(ImageError, match=r"blank\.png is blank"):
        read_digit(tmp_path / "blank.png")


def write_bytes(path, data: bytes):
    path.write_bytes(data)
    return path


def write_nan_tiff(path):
    pixels = np.zeros((40, 40), dtype=np.float32)
    pixels[10:30, 18:22] = np.nan
    Image.fromarray(pixels, mode="F").save(path)
    return path


@pytest.mark.parametrize(
    "name, write, problem",
    [
        # Pillow refuses to open a picture declaring over twice its pixel limit, and warns above the limit
        (
            "bomb.pgm",
            lambda path: write_bytes(path, b"P5\n100000 100000\n255\n"),
            "is too large to read safely (Image size (10000000000 pixels)",
        ),
        (
            "big.pgm",
            lambda path: write_bytes(path, b"P5\n10000 10000\n255\n"),
            "is too large to read safely (Image size (100000000 pixels)",
        ),
        (
            "zero.pgm",
            lambda path: write_bytes(path, b"P5\n2 2\n0\n" + bytes(4)),
            "could not be read (ValueError: maxval must be",
        ),
        ("nan.tif", write_nan_tiff, "holds pixels that are not numbers"),
        ("pipe.png", lambda path: os.mkfifo(path), "could not be read (it is not a regular file)"),
    ],
)
def test_whatever_pillow_raises_is_one_error_naming_the_file(tmp_path, recwarn, name, write, problem):
    path = tmp_path / name
    write(path)
    with pytest.raises(ImageError) as error:
        read_digit(path)
    assert str(error.value).startswith(f"{path} {problem}") and "\n" not in str(error.value)
    assert len(recwarn) == 0
