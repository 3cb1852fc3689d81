"""A callback that shows in every logger what the model learned: the digits it trains on and where it goes wrong."""

from typing import Any

import lightning as L
import torch
from torchmetrics.classification import MulticlassConfusionMatrix

from lit_rnn.base.metrics import Metric
from lit_rnn.base.private_apis import logged_step
from lit_rnn.logs.figures import class_label, confusion_matrix_picture, digit_grid, text_picture
from lit_rnn.logs.outputs import log_picture


class LogFigures(L.Callback):
    """Logs pictures and per-class accuracy to every logger of the run; does nothing per training step.

    At the start of fit: a grid of training images with their labels (``train/digits``). After each
    validation and test: the confusion matrix (``val/confusion_matrix``), a grid of the most confident
    mistakes with their true label, predicted label and confidence (``val/worst_mistakes``), and the
    accuracy on each class (scalars ``val_per_digit/acc_0`` to ``acc_9``); the same under ``test``. Classes are
    named as the dataset names them (``7 Sneaker``; MNIST's digits by themselves).
    The validation and test steps must return their logits. With several processes the confusion
    matrix and the accuracies cover all of them, the mistakes those of the first. Each logger gets the
    pictures the way its viewer shows them (``logger_outputs``). The confusion matrix is counted even
    without a logger: after each validation or test, ``confusion_matrix`` holds it, for the test command's table.

    Args:
        training_digits: How many training digits the grid at the start of fit shows.
        mistakes: How many of the worst mistakes each validation and test shows.
    """

    @staticmethod
    def metrics(num_classes: int = 10) -> tuple[Metric, ...]:
        """What it logs for a model of ``num_classes`` classes: the accuracy on each, at each validation and test."""
        return tuple(
            Metric(f"{stage}_per_digit/acc_{index}", "max", stage)
            for stage in ("val", "test")
            for index in range(num_classes)
        )

    def __init__(self, training_digits: int = 32, mistakes: int = 24) -> None:
        self.training_digits, self.mistakes = training_digits, mistakes
        self.confusion: MulticlassConfusionMatrix | None = None  # for the model's classes, at its first evaluation
        self.class_names: list[str] = []
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
        names = self._names(trainer, pl_module)
        grid = digit_grid(images.float() / 255, [f"label {class_label(label, names)}" for label in labels.tolist()])
        for logger in trainer.loggers:
            log_picture(logger, "train/digits", grid, logged_step(trainer))

    @staticmethod
    def _names(trainer: L.Trainer, pl_module: L.LightningModule) -> list[str]:
        """The classes' names: the dataset's, or their numbers for data of another kind."""
        dataset = getattr(trainer.datamodule, "dataset", None)
        return list(getattr(dataset, "class_names", map(str, range(pl_module.num_classes))))

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.class_names = self._names(trainer, pl_module)
            if self.confusion is None or self.confusion.num_classes != len(self.class_names):
                self.confusion = MulticlassConfusionMatrix(num_classes=len(self.class_names))
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
        stage = "test" if trainer.testing else "val"
        # Logged through Lightning, at every validation, so that a ModelCheckpoint or EarlyStopping may watch one; the
        # same numbers on every process (the matrix is gathered), so their mean is each one's.
        pl_module.log_dict(
            {f"{stage}_per_digit/acc_{digit}": value for digit, value in enumerate(accuracy)}, sync_dist=True
        )
        if not self._enabled(trainer) or not trainer.is_global_zero:
            return
        pictures = {
            "confusion_matrix": confusion_matrix_picture(matrix.cpu(), self.class_names),
            "worst_mistakes": self._mistakes_picture(),
        }
        for logger in trainer.loggers:
            for name, picture in pictures.items():
                log_picture(logger, f"{stage}/{name}", picture, logged_step(trainer))

    def _mistakes_picture(self) -> torch.Tensor:
        worst = {key: value.cpu() for key, value in self.worst.items()}
        if not worst or not len(worst["labels"]):
            return text_picture("no mistakes")
        captions = [
            f"true {class_label(label, self.class_names)} pred {class_label(predicted, self.class_names)}\n"
            f"confidence {confidence:.2f}"
            for label, predicted, confidence in zip(
                worst["labels"].tolist(), worst["predicted"].tolist(), worst["confidence"].tolist()
            )
        ]
        return digit_grid(worst["images"], captions, columns=6)

    # The test is watched exactly as validation is.
    on_test_epoch_start = on_validation_epoch_start
    on_test_batch_end = on_validation_batch_end
    on_test_epoch_end = on_validation_epoch_end
