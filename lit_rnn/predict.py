"""``python -m lit_rnn.predict``: ask a trained model which digit is in MNIST test images or in your own image files.

Each input gets a line (or a JSON record): the predicted digit, its probability and, for test images,
the true label. An input that cannot be read gets one error line and the others are still predicted.
"""

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from lit_rnn import runs
from lit_rnn.checkpointing import CheckpointError, read_checkpoint
from lit_rnn.data import load_mnist
from lit_rnn.digits import read_digit
from lit_rnn.errors import UserError, exits_cleanly_on_user_error
from lit_rnn.model import MNISTClassifier


@dataclass
class Prediction:
    """One input's answer; ``label`` is the true digit, known for test images only."""

    source: str
    digit: int
    probability: float
    probabilities: list[float]
    label: int | None = None


def find_checkpoint(which: str, log_root: Path = runs.LOG_ROOT) -> Path:
    """The checkpoint ``which`` names: a path, or the ``best``/``last`` of the newest run under ``log_root`` that has one.

    ``last`` is the run's newest checkpoint of any kind, as for ``fit --ckpt_path last``: the recovery checkpoint
    written when training ended is newer than ``last.ckpt``, which Lightning rewrites only on a new best.
    """
    if which == "best":
        return runs.best_checkpoint(log_root)
    if which == "last":
        return runs.last_checkpoint(log_root)[0]
    return Path(which)


def load_classifier(path: Path) -> MNISTClassifier:
    """The model saved in a checkpoint that ``python -m lit_rnn.fit`` wrote, rebuilt from its hyperparameters."""
    read_checkpoint(path)  # refuses damaged, foreign and code-carrying files with a message naming the problem
    try:
        model = MNISTClassifier.load_from_checkpoint(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling, missing keys, foreign hyperparameters: all mean "not ours"
        message = str(error).strip().splitlines()
        reason = type(error).__name__ + (f": {message[0][:200]}" if message else "")
        raise CheckpointError(
            path, f"is not a checkpoint of this project's model ({reason})",
            "Give a .ckpt file that python -m lit_rnn.fit wrote, such as lightning_logs/version_0/checkpoints/last.ckpt.",
        ) from None
    return model.eval()


def trained_data_dir(path: Path) -> str | None:
    """The data folder the checkpoint's run trained on: where its test images are."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    return checkpoint.get("datamodule_hyper_parameters", {}).get("data_dir")


def parse_indices(text: str) -> list[int]:
    """``0-9,15`` -> ``[0, ..., 9, 15]``: ranges include both ends."""
    indices = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not match or (match[2] and int(match[2]) < int(match[1])):
            raise argparse.ArgumentTypeError(f"{text!r} is not a list of test indices such as 0-9 or 3,7,100-120")
        first = int(match[1])
        indices.extend(range(first, int(match[2] or first) + 1))
    return indices


def classify(model: MNISTClassifier, images: torch.Tensor) -> torch.Tensor:
    """The probabilities ``(N, 10)`` of each digit for uint8 MNIST images ``(N, 28, 28)``."""
    with torch.inference_mode():
        return model.predict_step(images.float() / 255, 0)


def to_predictions(sources: list[str], probabilities: torch.Tensor, labels: list[int | None]) -> list[Prediction]:
    best, digits = probabilities.max(dim=1)
    return [
        Prediction(source, digit, round(probability, 4), [round(p, 4) for p in row], label)
        for source, digit, probability, row, label in zip(sources, digits.tolist(), best.tolist(), probabilities.tolist(), labels)
    ]


def predict_test_images(model: MNISTClassifier, indices: list[int], data_dir: str) -> tuple[list[Prediction], list[str]]:
    images, labels = load_mnist(data_dir, train=False)
    found = [index for index in indices if index < len(labels)]
    past = [index for index in indices if index >= len(labels)]
    errors = [
        f"--indices {past[0]}{f' and {len(past) - 1} more' if len(past) > 1 else ''}: the MNIST test set has only "
        f"{len(labels):,} images, indices 0-{len(labels) - 1}. Give indices in that range."
    ] if past else []
    if not found:
        return [], errors
    chosen = torch.tensor(found, dtype=torch.long)
    return to_predictions([f"test image {index}" for index in found], classify(model, images[chosen]), labels[chosen].tolist()), errors


def predict_files(model: MNISTClassifier, files: list[str]) -> tuple[list[Prediction], list[str]]:
    images, readable, errors = [], [], []
    for file in files:
        try:
            images.append(read_digit(file))
            readable.append(file)
        except UserError as error:
            errors.append(str(error))
    if not images:
        return [], errors
    return to_predictions(readable, classify(model, torch.stack(images)), [None] * len(readable)), errors


def print_text(checkpoint: Path, tested: list[Prediction], found: list[Prediction]) -> None:
    print(f"Checkpoint: {checkpoint}")
    for result in tested:
        mark = "" if result.digit == result.label else ", wrong"
        print(f"{result.source}: {result.digit} (probability {result.probability:.3f}), true label {result.label}{mark}")
    if tested:
        right = sum(result.digit == result.label for result in tested)
        print(f"{right} of {len(tested)} test images right ({right / len(tested):.3f})")
    for result in found:
        print(f"{result.source}: {result.digit} (probability {result.probability:.3f})")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lit_rnn.predict",
        description="Predict the digit in MNIST test images (--indices) or in image files of your own (PNG, JPEG, "
        "any size, dark digit on light paper or light on dark), with a model that python -m lit_rnn.fit trained.",
    )
    parser.add_argument("files", nargs="*", help="Image files, one digit each.")
    parser.add_argument("--ckpt_path", default="best",
                        help=f"A .ckpt file, or best / last: the newest run's in ./{runs.LOG_ROOT} (default: best).")
    parser.add_argument("--indices", type=parse_indices, default=[],
                        help="MNIST test images by index, such as 0-9 (the tutorial's check) or 3,7,100-120.")
    parser.add_argument("--data.data_dir", dest="data_dir", default=None,
                        help="Folder holding MNIST/raw, for --indices (default: the folder the checkpoint trained on).")
    parser.add_argument("--format", choices=["text", "json"], default="text",
                        help="text: a line per input; json: one JSON object for scripts.")
    return parser


@exits_cleanly_on_user_error
def main(args: list[str] | None = None) -> list[Prediction]:
    """Predict every input it can; exits non-zero after naming each input that could not be predicted."""
    command_line = parser()
    options = command_line.parse_args(args)
    if not options.indices and not options.files:
        command_line.error("give image files, --indices, or both")
    checkpoint = find_checkpoint(options.ckpt_path)
    model = load_classifier(checkpoint)
    tested, errors = [], []
    if options.indices:
        try:
            tested, errors = predict_test_images(model, options.indices, options.data_dir or trained_data_dir(checkpoint) or "data")
        except UserError as error:  # the test set is missing or unreadable
            errors.append(str(error))
    found, unreadable = predict_files(model, options.files)
    errors += unreadable
    if options.format == "json":
        records = [asdict(result) for result in tested + found]
        print(json.dumps({"checkpoint": str(checkpoint), "predictions": records, "errors": errors}))
    else:
        print_text(checkpoint, tested, found)
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    if errors:
        sys.exit(UserError.exit_code)
    return tested + found


if __name__ == "__main__":
    main()
