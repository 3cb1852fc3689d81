"""A callback that shows in every logger what the model learned: the digits it trains on and where it goes wrong."""

from typing import Any

import lightning as L
import torch
from torchmetrics.classification import MulticlassConfusionMatrix

from lit_rnn.base.private_apis import logged_step
from lit_rnn.logs.figures import confusion_matrix_picture, digit_grid, text_picture
from lit_rnn.logs.outputs import log_picture

NUM_CLASSES = 10


class LogFigures(L.Callback):
    """Logs pictures and per-digit accuracy to every logger of the run; does nothing per training step.

    At the start of fit: a grid of training digits with their labels (``train/digits``). After each
    validation and test: the confusion matrix (``val/confusion_matrix``), a grid of the most confident
    mistakes with their true label, predicted label and confidence (``val/worst_mistakes``), and the
    accuracy on each digit (scalars ``val_per_digit/acc_0`` to ``acc_9``); the same under ``test``.
    The validation and test steps must return their logits. With several processes the confusion
    matrix and the accuracies cover all of them, the mistakes those of the first. Each logger gets the
    pictures the way its viewer shows them (``logger_outputs``). The confusion matrix is counted even
    without a logger: after each validation or test, ``confusion_matrix`` holds it, for the test command's table.

    Args:
        training_digits: How many training digits the grid at the start of fit shows.
        mistakes: How many of the worst mistakes each validation and test shows.
    """

    def __init__(self, training_digits: int = 32, mistakes: int = 24) -> None:
        self.training_digits, self.mistakes = training_digits, mistakes
        self.confusion = MulticlassConfusionMatrix(num_classes=NUM_CLASSES)
        self.worst: dict[str, torch.Tensor] = {}
        self.confusion_matrix: list[list[int]] = []  # rows: the true digit; columns: the predicted one

    @staticmethod
    def _enabled(trainer: L.Trainer) -> bool:
        return bool(trainer.loggers) and not trainer.sanity_checking

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        splits = getattr(trainer.datamodule, "splits", {})
        if not self._enabled(trainer) or "train" not in splits or not trainer.is_global_zero:
            return
        images, labels = (tensor[: self.training_digits].cpu() for tensor in splits["train"])
        grid = digit_grid(images.float() / 255, [f"label {label}" for label in labels.tolist()])
        for logger in trainer.loggers:
            log_picture(logger, "train/digits", grid, logged_step(trainer))

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.confusion = self.confusion.to(pl_module.device)
            self.confusion.reset()
            self.worst = {}

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if trainer.sanity_checking:
            return
        images, labels = batch
        confidence, predicted = outputs.detach().softmax(dim=1).max(dim=1)
        self.confusion.update(predicted, labels)
        if not self._enabled(trainer):
            return
        wrong = predicted != labels
        found = {
            "images": images[wrong],
            "labels": labels[wrong],
            "predicted": predicted[wrong],
            "confidence": confidence[wrong],
        }
        if self.worst:
            found = {key: torch.cat([self.worst[key], value]) for key, value in found.items()}
        keep = found["confidence"].topk(min(self.mistakes, len(found["confidence"]))).indices
        self.worst = {key: value[keep] for key, value in found.items()}

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        matrix = self.confusion.compute()  # gathers every process's counts, so all of them must call it
        self.confusion_matrix = matrix.cpu().tolist()
        accuracy = matrix.diag() / matrix.sum(dim=1).clamp(min=1)
        if not self._enabled(trainer) or not trainer.is_global_zero:
            return
        stage, step = "test" if trainer.testing else "val", logged_step(trainer)
        pictures = {
            "confusion_matrix": confusion_matrix_picture(matrix.cpu()),
            "worst_mistakes": self._mistakes_picture(),
        }
        per_digit = {f"{stage}_per_digit/acc_{digit}": value for digit, value in enumerate(accuracy.tolist())}
        for logger in trainer.loggers:
            for name, picture in pictures.items():
                log_picture(logger, f"{stage}/{name}", picture, step)
            logger.log_metrics(per_digit, step)

    def _mistakes_picture(self) -> torch.Tensor:
        worst = {key: value.cpu() for key, value in self.worst.items()}
        if not worst or not len(worst["labels"]):
            return text_picture("no mistakes")
        captions = [
            f"true {label} pred {predicted}\nconfidence {confidence:.2f}"
            for label, predicted, confidence in zip(
                worst["labels"].tolist(), worst["predicted"].tolist(), worst["confidence"].tolist()
            )
        ]
        return digit_grid(worst["images"], captions, columns=6)

    # The test is watched exactly as validation is.
    on_test_epoch_start = on_validation_epoch_start
    on_test_batch_end = on_validation_batch_end
    on_test_epoch_end = on_validation_epoch_end
