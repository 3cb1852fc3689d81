"""What ``python -m lit_rnn.test`` tells about a checkpoint: the accuracy, the loss, the accuracy on each class and the
confusion matrix (counted by ``LogFigures`` while Lightning evaluates it), as a text table or as one JSON object."""

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

from lit_rnn.logs.figures import class_label

SPLIT_NAMES = {
    "test": "Test accuracy on the {images:,} {dataset} test images",
    "val": "Validation accuracy on the {images:,} images of the run's validation split",
}
"""The headline of each split; the test's is the line ``fit`` prints, so that the two can be set side by side."""


@dataclass(frozen=True)
class Evaluation:
    """A checkpoint's results on one split. ``None`` stands for what is not a number: a loss that overflowed, the
    accuracy on a digit that the split holds no image of.

    Attributes:
        checkpoint: The checkpoint evaluated.
        split: ``test`` (the dataset's official test images) or ``val`` (the run's validation split).
        dataset: The dataset's name (``MNIST``, ``Fashion-MNIST``, ...).
        epoch: The epoch at which the checkpoint was saved (counted from 0).
        step: Its training step, where the results are logged in its run.
        images: How many images were evaluated.
        accuracy: The share of them classified right.
        loss: The mean cross-entropy loss.
        per_digit_accuracy: The accuracy on the images of each class, by number (each digit, for MNIST).
        confusion_matrix: How many images of each true class (rows) were read as each class (columns).
        class_names: Each class's name, by number.
        logged_to: The run folder whose TensorBoard logs got the results; None for a checkpoint outside a run.
    """

    checkpoint: str
    split: str
    dataset: str
    epoch: int
    step: int
    images: int
    accuracy: float
    loss: float | None
    per_digit_accuracy: list[float | None]
    confusion_matrix: list[list[int]]
    class_names: list[str]
    logged_to: str | None


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def evaluation(metrics: dict[str, float], matrix: list[list[int]], **details: Any) -> Evaluation:
    """The results from what Lightning returned for the split (``SPLIT/acc``, ``SPLIT/loss``) and the counted matrix."""
    split = details["split"]
    rows = torch.tensor(matrix)
    per_digit = [
        _number(right / total) if total else None
        for right, total in zip(rows.diag().tolist(), rows.sum(dim=1).tolist())
    ]
    return Evaluation(
        images=int(rows.sum()),
        accuracy=metrics[f"{split}/acc"],
        loss=_number(metrics[f"{split}/loss"]),
        per_digit_accuracy=per_digit,
        confusion_matrix=matrix,
        **details,
    )


def to_text(result: Evaluation) -> str:
    """The headline (accuracy to 4 places, as ``fit`` prints it, and the loss), then a table: a row per true class,
    with its accuracy and how many of its images were read as each class."""
    loss = "not a number" if result.loss is None else f"{result.loss:.4f}"
    lines = [
        f"Checkpoint: {result.checkpoint} (epoch {result.epoch}, step {result.step})",
        f"{SPLIT_NAMES[result.split].format(images=result.images, dataset=result.dataset)}: {result.accuracy:.4f}, "
        f"loss {loss}",
        "",
        "Accuracy per class, and the confusion matrix (rows: the true class; columns: the class predicted):",
    ]
    labels = [class_label(index, result.class_names) for index in range(len(result.class_names))]
    width = max(5, *map(len, labels))
    lines.append(f"{'class':>{width}} {'accuracy':>8} |" + "".join(f"{index:>6}" for index in range(len(labels))))
    for label, accuracy, row in zip(labels, result.per_digit_accuracy, result.confusion_matrix):
        shown = "-" if accuracy is None else f"{accuracy:.4f}"
        lines.append(f"{label:>{width}} {shown:>8} |" + "".join(f"{count:>6}" for count in row))
    return "\n".join(lines)


def to_json(result: Evaluation) -> str:
    """One JSON object; strict JSON, which has no NaN or Infinity (they are null)."""
    return json.dumps(asdict(result), allow_nan=False)
