"""``python -m lit_rnn.predict``: ask a trained model which class (which digit, for MNIST) is in its dataset's test
images or in your own image files.

Each input gets a line (or a JSON record): the predicted class and its name, its probability and, for test images,
the true label. An input that cannot be read gets one error line and the others are still predicted.
"""

if __name__ == "__main__":  # before the imports below, which take seconds: a signal at any moment ends cleanly
    from lit_rnn.base.command_start import start_command

    start_command()

import argparse
import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from lit_rnn.base import interrupts
from lit_rnn.base.errors import UserError, exits_cleanly_on_user_error
from lit_rnn.base.quick_exit import run_then_exit
from lit_rnn.data.datamodule import MNIST_TEST_SIZE, load_images
from lit_rnn.data.digits import read_digit
from lit_rnn.trained.command_line import trained_model_command
from lit_rnn.trained.loading import TrainedNetwork, find_checkpoint, load_network


@dataclass
class Prediction:
    """One input's answer: ``digit`` is the class's number (the digit, for MNIST) and ``class_name`` its name; ``label``
    is the true class, known for test images only."""

    source: str
    digit: int
    class_name: str
    probability: float | None
    probabilities: list[float | None]
    label: int | None = None


def parse_indices(text: str) -> list[int]:
    """``0-9,15`` -> ``[0, ..., 9, 15]``: ranges include both ends.

    Every range is checked against the test set's size before it is expanded, so that a typo such as
    ``0-30000000`` is refused at once instead of building a list of millions.
    """
    indices: list[int] = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?", part)
        first, last = (_index(match[1]), _index(match[2] or match[1])) if match else (None, None)
        if first is None or last < first:
            raise argparse.ArgumentTypeError(f"{_shown(text)} is not a list of test indices such as 0-9 or 3,7,100-120")
        if last >= MNIST_TEST_SIZE:
            raise argparse.ArgumentTypeError(
                f"{_shown(part.strip())} goes past the MNIST test set, whose {MNIST_TEST_SIZE:,} images are indices "
                f"0-{MNIST_TEST_SIZE - 1}"
            )
        if len(indices) + last - first + 1 > MNIST_TEST_SIZE:
            raise argparse.ArgumentTypeError(
                f"{_shown(text)} names more than {MNIST_TEST_SIZE:,} test images, the whole test set: name each at most once"
            )
        indices.extend(range(first, last + 1))
    return indices


def _index(digits: str) -> int:
    """The number ``digits`` writes, or MNIST_TEST_SIZE for one too long to be an index (int() refuses 4,300 digits)."""
    return int(digits) if len(digits.lstrip("0")) <= len(str(MNIST_TEST_SIZE)) else MNIST_TEST_SIZE


def _shown(text: str) -> str:
    """``text`` quoted for a message, its middle cut out if it is long."""
    return repr(text if len(text) <= 40 else f"{text[:20]}...{text[-15:]}")


def classify(network: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The probabilities ``(N, classes)`` of each class for uint8 images ``(N, 28, 28)``."""
    with torch.inference_mode():
        return network(images.float() / 255).softmax(dim=1)


def _probability(value: float) -> float | None:
    """Rounded for reading; None where the network's output overflowed, which JSON has no number for."""
    return round(value, 4) if math.isfinite(value) else None


def to_predictions(
    sources: list[str], probabilities: torch.Tensor, labels: list[int | None], names: Sequence[str]
) -> list[Prediction]:
    best, digits = probabilities.max(dim=1)
    return [
        Prediction(source, digit, names[digit], _probability(probability), [_probability(p) for p in row], label)
        for source, digit, probability, row, label in zip(
            sources, digits.tolist(), best.tolist(), probabilities.tolist(), labels
        )
    ]


def predict_test_images(
    trained: TrainedNetwork, indices: list[int], data_dir: str
) -> tuple[list[Prediction], list[str]]:
    dataset = trained.dataset
    images, labels = load_images(data_dir, False, dataset)
    found = [index for index in indices if index < len(labels)]
    past = [index for index in indices if index >= len(labels)]
    errors = (
        [
            f"--indices {past[0]}{f' and {len(past) - 1} more' if len(past) > 1 else ''}: the {dataset.title} test set has only "
            f"{len(labels):,} images, indices 0-{len(labels) - 1}. Give indices in that range."
        ]
        if past
        else []
    )
    if not found:
        return [], errors
    chosen = torch.tensor(found, dtype=torch.long)
    sources = [f"test image {index}" for index in found]
    probabilities = classify(trained.network, images[chosen])
    return to_predictions(sources, probabilities, labels[chosen].tolist(), dataset.class_names), errors


def predict_files(trained: TrainedNetwork, files: list[str]) -> tuple[list[Prediction], list[str]]:
    images, readable, errors = [], [], []
    for file in files:
        try:
            images.append(read_digit(file))
            readable.append(file)
        except UserError as error:
            errors.append(str(error))
    if not images:
        return [], errors
    probabilities = classify(trained.network, torch.stack(images))
    return to_predictions(readable, probabilities, [None] * len(readable), trained.dataset.class_names), errors


def print_text(checkpoint: Path, tested: list[Prediction], found: list[Prediction], names: Sequence[str]) -> None:
    print(f"Checkpoint: {checkpoint}")
    for result in tested:
        mark = "" if result.digit == result.label else ", wrong"
        print(
            f"{result.source}: {_named(result.digit, names)} (probability {_shown_probability(result)}), true label "
            f"{_named(result.label, names)}{mark}"
        )
    if tested:
        right = sum(result.digit == result.label for result in tested)
        print(f"{right} of {len(tested)} test images right ({right / len(tested):.3f})")
    for result in found:
        print(f"{result.source}: {_named(result.digit, names)} (probability {_shown_probability(result)})")


def _named(label: int, names: Sequence[str]) -> str:
    """A class as its number and its name (``7 Sneaker``); a digit alone where its name is the digit (MNIST)."""
    return names[label] if names[label] == str(label) else f"{label} {names[label]}"


def _shown_probability(result: Prediction) -> str:
    return "not a number" if result.probability is None else f"{result.probability:.3f}"


def to_json(checkpoint: Path, predictions: list[Prediction], errors: list[str]) -> str:
    """One JSON object; strict JSON, which has no NaN or Infinity (``_probability`` makes them null)."""
    records = [asdict(result) for result in predictions]
    return json.dumps({"checkpoint": str(checkpoint), "predictions": records, "errors": errors}, allow_nan=False)


def parser() -> argparse.ArgumentParser:
    parser = trained_model_command(
        "predict",
        "Predict the digit in MNIST test images (--indices) or in image files of your own (PNG, JPEG, "
        "any size, dark digit on light paper or light on dark), with a model that python -m lit_rnn.fit trained.",
        "for --indices",
    )
    parser.add_argument("files", nargs="*", help="Image files, one digit each.")
    parser.add_argument(
        "--indices",
        type=parse_indices,
        default=[],
        help="MNIST test images by index, such as 0-9 (the tutorial's check) or 3,7,100-120.",
    )
    parser.add_argument(
        "--format",
        choices=["text", "json"],
        default="text",
        help="text: a line per input; json: one JSON object for scripts.",
    )
    return parser


@exits_cleanly_on_user_error
def main(args: list[str] | None = None) -> list[Prediction]:
    """Predict every input it can; exits non-zero after naming each input that could not be predicted."""
    command_line = parser()
    options = command_line.parse_args(args)
    if not options.indices and not options.files:
        command_line.error("give image files, --indices, or both")
    checkpoint = find_checkpoint(options.ckpt_path)
    trained = load_network(checkpoint, options.allow_module)
    interrupts.set_phase("while predicting: nothing is written. Run the command again.", on_the_spot=True)
    tested, errors = [], []
    if options.indices:
        try:
            tested, errors = predict_test_images(
                trained, options.indices, options.data_dir or trained.data_dir or "data"
            )
        except UserError as error:  # the test set is missing or unreadable
            errors.append(str(error))
    found, unreadable = predict_files(trained, options.files)
    errors += unreadable
    if options.format == "json":
        print(to_json(checkpoint, tested + found, errors))
    else:
        print_text(checkpoint, tested, found, trained.dataset.class_names)
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    if errors:
        sys.exit(UserError.exit_code)
    return tested + found


if __name__ == "__main__":
    run_then_exit(main)
