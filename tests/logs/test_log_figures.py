"""The pictures and per-digit accuracies that ``LogFigures`` writes to a run's event files, and how they are drawn."""

import io

import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lit_rnn.data.datamodule import load_images
from lit_rnn.logs.figures import HIGH, confusion_matrix_picture, digit_grid

PICTURES = {
    "train/digits",
    "val/confusion_matrix",
    "val/worst_mistakes",
    "test/confusion_matrix",
    "test/worst_mistakes",
}
# Shown at their natural size ("Show actual image size"), the pictures fit the 1,000 pixels that TensorBoard's
# IMAGES tab leaves beside its controls on a 1400-pixel-wide window, and their text is a web page's small print.
TENSORBOARD_WIDTH = 1000
SMALL_PRINT = 12  # pixels from the top of a digit to its foot


@pytest.fixture(scope="module")
def events(tiny_run):
    return EventAccumulator(str(tiny_run / "lightning_logs" / "version_0"), size_guidance={"images": 0}).Reload()


def test_event_files_hold_a_picture_of_each_kind_after_each_validation(events):
    assert set(events.Tags()["images"]) == PICTURES
    assert len(events.Images("train/digits")) == 1
    validation_steps = [event.step for event in events.Scalars("val/acc")]  # the sanity check is not logged
    assert [event.step for event in events.Images("val/confusion_matrix")] == validation_steps
    assert [event.step for event in events.Images("val/worst_mistakes")] == validation_steps
    assert events.Images("test/confusion_matrix")[-1].step == events.Scalars("test/acc")[-1].step
    for tag in PICTURES:
        event = events.Images(tag)[-1]
        picture = Image.open(io.BytesIO(event.encoded_image_string))
        assert picture.size == (event.width, event.height) and min(picture.size) > 100
        assert picture.width <= TENSORBOARD_WIDTH, tag


def test_accuracy_per_digit_adds_up_to_the_test_accuracy(events, tiny_mnist):
    _, labels = load_images(tiny_mnist, train=False)
    per_digit = torch.tensor([events.Scalars(f"test_per_digit/acc_{digit}")[-1].value for digit in range(10)])
    assert ((per_digit * labels.bincount(minlength=10)).sum() / len(labels)).item() == pytest.approx(
        events.Scalars("test/acc")[-1].value, abs=1e-4
    )


def colour_area(picture: torch.Tensor, colour: tuple[int, int, int]) -> int:
    pixels = (picture * 255).round().to(torch.int64)
    return int((pixels == torch.tensor(colour)[:, None, None]).all(dim=0).sum())


def test_confusion_matrix_cells_are_shaded_by_their_share_of_the_row():
    matrix = torch.zeros(10, 10, dtype=torch.int64)
    matrix[0, 0] = 7  # all of row 0
    matrix[3, 3] = matrix[3, 8] = 5  # half of row 3 each
    picture = confusion_matrix_picture(matrix)
    half = tuple(round(255 + (high - 255) * 0.5) for high in HIGH)
    one_cell = colour_area(picture, HIGH)
    assert one_cell > 400  # a cell's area, less its outline and its count
    assert colour_area(picture, half) == pytest.approx(2 * one_cell, rel=0.05)


def test_digit_grid_has_a_tile_per_image_in_rows_of_the_given_length():
    single = digit_grid(torch.ones(1, 28, 28), ["label 1"])
    grid = digit_grid(torch.ones(10, 28, 28), ["label 1"] * 10, columns=4)
    tile_height, tile_width = single.shape[1:]  # make_grid leaves a single image unpadded
    assert grid.shape == (3, 3 * (tile_height + 2) + 2, 4 * (tile_width + 2) + 2)
    two_lines = digit_grid(torch.ones(1, 28, 28), ["true 1\npred 7"])
    assert two_lines.shape[1] > single.shape[1] and two_lines.shape[2] == single.shape[2]
    wide = digit_grid(torch.ones(1, 28, 28), ["true 1 pred 7\nconfidence 0.90"])
    assert wide.shape[2] > single.shape[2]  # widened for the caption, not cut


def ink_lines(picture: torch.Tensor) -> list[int]:
    """The height in pixels of each band of rows that holds dark ink: each line of text where only text is dark."""
    inked = ((picture < 0.4).all(dim=0).any(dim=1)).tolist() + [False]
    heights, height = [], 0
    for row_has_ink in inked:
        if row_has_ink:
            height += 1
        elif height:
            heights, height = heights + [height], 0
    return heights


@pytest.mark.parametrize(
    "picture, lines",
    [
        (digit_grid(torch.ones(12, 28, 28), ["true 1 pred 7\nconfidence 0.90"] * 12, columns=6), 2 * 2),
        (digit_grid(torch.ones(32, 28, 28), ["label 1"] * 32), 4),
        (confusion_matrix_picture(torch.zeros(10, 10, dtype=torch.int64)), 1 + 1 + 10),  # title, columns, rows
    ],
    ids=["worst mistakes", "training digits", "confusion matrix"],
)
def test_text_is_small_print_at_the_size_tensorboard_shows(picture, lines):
    """White digits and empty cells leave only the text dark; every line of it reads at the natural size."""
    heights = ink_lines(picture)
    assert len(heights) == lines and min(heights) >= SMALL_PRINT, heights
    assert picture.shape[2] <= TENSORBOARD_WIDTH
