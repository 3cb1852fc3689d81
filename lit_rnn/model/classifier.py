"""The LightningModule: wires a network (``networks``) to its input's standardization, loss, accuracy metrics and
optimizer. The network is any ``nn.Module`` that maps images ``(batch, 28, 28)`` to logits; it is given by config."""

import math
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.plugins.precision import MixedPrecision, Precision
from lightning.pytorch.utilities import GradClipAlgorithmType
from torch import nn
from torchmetrics import MaxMetric, MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from lit_rnn.base.errors import ConfigError, UserError, check_config
from lit_rnn.base.metrics import Metric
from lit_rnn.base.private_apis import QuickHookNames
from lit_rnn.model.networks import IMAGE_SIZE
from lit_rnn.model.networks.recurrent import RecurrentNetwork
from lit_rnn.model.standardize import Standardize, Standardized


class TrainingDiverged(UserError):
    """The weights stopped being finite numbers: the run stops before any checkpoint holds them."""

    exit_code = 1


def _check_learning_rate(learning_rate: Any) -> None:
    check_config(
        math.isfinite(learning_rate) and learning_rate > 0,
        "model.optimizer.lr",
        learning_rate,
        "a finite positive number",
    )


def _all_finite(tensors: Iterable[torch.Tensor]) -> bool:
    """Whether every element is a finite number, from one sum per tensor.

    Summed in float64, float32 (or narrower) values cannot overflow, and one NaN or infinite element makes the sum
    NaN or infinite: the same answer as an infinity norm, for a fifth of its cost (about 20 µs a step here).
    """
    return math.isfinite(sum(tensor.detach().sum(dtype=torch.float64) for tensor in tensors))


def _tutorial_adam(parameters: Any) -> torch.optim.Optimizer:
    return torch.optim.Adam(parameters, lr=0.01)


TUTORIAL_NETWORK = f"{RecurrentNetwork.__module__}.{RecurrentNetwork.__qualname__}"


def network_settings(network: nn.Module, given: Any) -> dict[str, Any]:
    """How to build ``network`` again: the ``class_path`` and ``init_args`` LightningCLI built it from (``given``).

    A network built in code has no such record: its class is kept, its arguments are None, and a command that rebuilds
    networks from checkpoints refuses such a checkpoint rather than guess them.
    """
    if isinstance(given, dict) and isinstance(given.get("class_path"), str):
        return given
    return {"class_path": f"{type(network).__module__}.{type(network).__qualname__}", "init_args": None}


def count_classes(network: nn.Module) -> int:
    """How many classes ``network`` tells apart: the width of its logits for a batch of two blank images, computed in
    eval mode (no dropout mask drawn, no batch statistics updated) and without gradients.

    Raises:
        ConfigError: where the network cannot read 28x28 images into a batch of logits.
    """
    was_training = network.training
    try:
        with torch.no_grad():
            logits = network.eval()(torch.zeros(2, IMAGE_SIZE, IMAGE_SIZE))
    except Exception as error:
        raise ConfigError(
            f"--model.network {type(network).__qualname__} cannot read a batch of 28x28 images ({error}). A network "
            "maps float images (batch, 28, 28) to logits (batch, classes): see lit_rnn/model/networks/__init__.py."
        ) from None
    finally:
        network.train(was_training)
    check_config(
        isinstance(logits, torch.Tensor) and logits.dim() == 2 and logits.shape[0] == 2,
        "model.network",
        type(network).__qualname__,
        "a network whose output for images (batch, 28, 28) is logits (batch, classes), but it gave "
        f"{tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__}",
    )
    return logits.shape[1]


def step_is_logged(trainer: L.Trainer) -> bool:
    """Whether Lightning writes this training step's metrics, by its own rule (every ``log_every_n_steps``, counting
    this step; each step of a ``fast_dev_run``; the step that stops the run), so the accuracy is measured only then."""
    every = trainer.log_every_n_steps
    return (trainer.global_step + 1) % every == 0 or trainer.should_stop or bool(trainer.fast_dev_run)


class MNISTClassifier(QuickHookNames, L.LightningModule):
    """Classifies images of MNIST's format (28x28, one channel) with a network given by config.

    Args:
        network: The network (``class_path``/``init_args`` in YAML, ``--model.network CLASS`` on the command line);
            by default the tutorial's LSTM, ``lit_rnn.model.networks.recurrent.RecurrentNetwork``.
        normalize_input: Standardize pixels with the training split's mean and std before the network.
        label_smoothing: Share of each training target spread over the other classes, in [0, 1): 0.1 keeps the
            network from growing ever more certain of the training images. The validation and test losses stay plain
            cross-entropy, comparable between runs.
        optimizer: Optimizer class and its arguments (``class_path``/``init_args`` in YAML); by default the
            tutorial's Adam at lr 0.01.
        scheduler: Optional learning-rate schedule; ``OneCycleLR``'s ``total_steps`` is filled in from the run.
        scheduler_interval: Step the schedule after every optimizer ``step`` or every ``epoch``.
    """

    METRICS = (
        Metric("train/loss", "min", "train"),
        Metric("train/acc", "max", "train"),
        Metric("val/loss", "min", "val"),
        Metric("val/acc", "max", "val"),
        Metric("val/acc_best", "max", "val"),
        Metric("test/loss", "min", "test"),
        Metric("test/acc", "max", "test"),
    )
    """What it logs (``lit_rnn.logs.metrics`` gathers these with its callbacks')."""

    def __init__(
        self,
        network: nn.Module | None = None,
        normalize_input: bool = False,
        label_smoothing: float = 0.0,
        optimizer: OptimizerCallable | None = None,
        scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: str = "step",
    ) -> None:
        super().__init__()
        check_config(
            scheduler_interval in ("step", "epoch"), "model.scheduler_interval", scheduler_interval, "'step' or 'epoch'"
        )
        check_config(
            isinstance(label_smoothing, (int, float))
            and not isinstance(label_smoothing, bool)
            and 0 <= label_smoothing < 1,
            "model.label_smoothing",
            label_smoothing,
            "in [0, 1)",
        )
        check_config(isinstance(normalize_input, bool), "model.normalize_input", normalize_input, "true or false")
        with warnings.catch_warnings():  # a network built in code is recorded by its class (network_settings)
            warnings.filterwarnings("ignore", message="Attribute 'network' is an instance of `nn.Module`")
            self.save_hyperparameters(logger=False)
        if network is None:
            network, self.hparams.network = RecurrentNetwork(), {"class_path": TUTORIAL_NETWORK, "init_args": {}}
        self.network = network
        self.hparams.network = network_settings(network, self.hparams.network)
        self.num_classes = count_classes(self.network)
        self.standardize = Standardize() if normalize_input else None
        self.optimizer, self.scheduler = optimizer or _tutorial_adam, scheduler
        self._check_optimizer_arguments()
        self.loss = nn.CrossEntropyLoss()
        self.training_loss = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        self.train_acc, self.val_acc, self.test_acc = (
            MulticlassAccuracy(num_classes=self.num_classes, average="micro") for _ in range(3)
        )
        self.val_loss, self.test_loss = MeanMetric(), MeanMetric()
        self.val_acc_best = MaxMetric()
        self.val_acc_best.persistent(True)  # in checkpoints: a resumed run must remember the best so far

    def setup(self, stage: str) -> None:
        """Check the network against the data's classes; take the training split's pixel statistics to standardize by
        (a resumed run's come back from its checkpoint: the same numbers)."""
        data = self.trainer.datamodule
        if not hasattr(data, "num_classes"):  # data of another kind, given in code
            return
        check_config(
            self.num_classes == data.num_classes,
            "model.network.num_classes",
            self.num_classes,
            f"{data.num_classes}, the classes of {data.dataset.title}: the network tells {self.num_classes} apart",
        )
        if self.standardize is not None and stage == "fit":
            self.standardize.set_statistics(*data.pixel_statistics())

    def _check_optimizer_arguments(self) -> None:
        """Build the optimizer and the schedule once on a dummy parameter, so that a bad argument fails now, not after
        set-up.

        The learning rate given is checked first: optimizers refuse a NaN one in words of their own.
        """
        given = getattr(self.optimizer, "keywords", {})
        if "lr" in given:
            _check_learning_rate(given["lr"])
        try:
            optimizer = self.optimizer([nn.Parameter(torch.zeros(1))])
        except (ValueError, TypeError) as error:
            raise ConfigError(
                f"--model.optimizer is refused: {error}. Fix its init_args (for example --model.optimizer.lr 0.01)."
            ) from None
        _check_learning_rate(optimizer.defaults.get("lr", 1.0))
        if self.scheduler is None:
            return
        try:
            self.scheduler(optimizer, **self._run_length(lambda: 1))
        except (ValueError, TypeError, ZeroDivisionError) as error:
            raise ConfigError(
                f"--model.scheduler is refused: {error}. Fix its init_args (--help lists them)."
            ) from None

    def _run_length(self, steps: Callable[[], int]) -> dict[str, int]:
        """A schedule over the whole run (OneCycleLR) left without a length gets the run's number of ``steps()``."""
        arguments = getattr(self.scheduler, "keywords", {})
        if "total_steps" in arguments and arguments["total_steps"] is None and arguments.get("epochs") is None:
            return {"total_steps": steps()}
        return {}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(images if self.standardize is None else self.standardize(images))

    def reader(self) -> Standardized:
        """The trained network with its standardization, without Lightning's parts: what predict, serve and export
        run."""
        return Standardized(self.network, self.standardize).train(self.training)

    def _common_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], stage: str, measure: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = batch
        logits = self(images)
        loss = (self.training_loss if stage == "train" else self.loss)(logits, labels)
        if measure:
            getattr(self, f"{stage}_acc")(logits, labels)
        return loss, logits

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        logged = step_is_logged(self.trainer)
        loss, _ = self._common_step(batch, "train", measure=logged)
        if logged:
            self.log("train/loss", loss, prog_bar=True)
            self.log("train/acc", self.train_acc)
        return loss

    def optimizer_step(self, epoch: int, batch_idx: int, optimizer: Any, optimizer_closure: Any = None) -> None:
        """Lightning's step, then a check that the weights are still finite numbers (one small sum per tensor).

        Too large a learning rate (or weight decay) makes them overflow to inf or NaN within a step or two;
        the loss is NaN from then on, and the run would train on for nothing and save the ruined weights as
        its best checkpoint. Stopped here, before the step's callbacks run, no checkpoint ever holds them.
        """
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
        if not _all_finite(self.network.parameters()):
            learning_rate = optimizer.param_groups[0].get("lr")
            raise TrainingDiverged(
                f"Training diverged at step {self.trainer.global_step + 1}: the weights, and so the training loss, "
                f"are no longer finite numbers (NaN or infinite), with the learning rate at {learning_rate!r}. The run "
                "stopped before saving them; its earlier checkpoints are kept. Train again with a lower learning "
                "rate (--model.optimizer.lr), or resume an earlier checkpoint with one (--ckpt_path)."
            )

    def configure_gradient_clipping(
        self, optimizer: Any, gradient_clip_val: float | None = None, gradient_clip_algorithm: str | None = None
    ) -> None:
        """Lightning's clipping, which also clips the gradients of a fused optimizer in bfloat16 mixed precision.

        Lightning's mixed precision refuses to clip for any fused optimizer, whose step would unscale float16's scaled
        gradients after the clipping. bfloat16 scales nothing (no ``GradScaler``): its gradients are already the true
        ones, so they are clipped as in a 32-bit run, and a shipped config can ask for fused AdamW on every CPU.
        """
        precision = self.trainer.precision_plugin
        if gradient_clip_val and isinstance(precision, MixedPrecision) and precision.scaler is None:
            algorithm = GradClipAlgorithmType(gradient_clip_algorithm or GradClipAlgorithmType.NORM)
            Precision.clip_gradients(precision, optimizer, gradient_clip_val, algorithm)
        else:
            super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """The logits, for callbacks that look at the predictions (``LogFigures``)."""
        loss, logits = self._common_step(batch, "val")
        self.val_loss(loss, weight=len(batch[1]))
        self.log("val/loss", self.val_loss, prog_bar=True)
        self.log("val/acc", self.val_acc, prog_bar=True)
        return logits

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:  # the sanity check's accuracy must not count as the best
            return
        self.val_acc_best(self.val_acc.compute())
        self.log("val/acc_best", self.val_acc_best.compute(), sync_dist=True)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, logits = self._common_step(batch, "test")
        self.test_loss(loss, weight=len(batch[1]))
        self.log("test/loss", self.test_loss)
        self.log("test/acc", self.test_acc)
        return logits

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer(self.parameters())
        if self.scheduler is None:
            return optimizer
        scheduler = self.scheduler(optimizer, **self._run_length(lambda: int(self.trainer.estimated_stepping_batches)))
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": self.hparams.scheduler_interval},
        }
