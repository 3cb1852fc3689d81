"""Digits the tests draw themselves, as a user would in a paint program."""

from pathlib import Path

from PIL import Image, ImageDraw


def draw_seven(
    path: Path,
    ink: str | int = "black",
    paper: str | int = "white",
    size: tuple[int, int] = (300, 400),
    mode: str = "L",
) -> Path:
    """Save a thick-stroked "7" (a bar and a slanting stem) filling most of a ``size`` canvas."""
    width, height = size
    stroke = max(3, min(size) // 9)
    image = Image.new(mode, size, paper)
    corners = [(0.22 * width, 0.18 * height), (0.78 * width, 0.18 * height), (0.42 * width, 0.86 * height)]
    ImageDraw.Draw(image).line(corners, fill=ink, width=stroke, joint="curve")
    image.save(path)
    return path
