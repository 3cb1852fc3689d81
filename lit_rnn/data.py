"""MNIST as a LightningDataModule: download, a fixed train/validation split, and fast in-memory batches."""

from pathlib import Path
from typing import Any

import lightning as L
import torch
from torchvision.datasets import MNIST

from lit_rnn.batches import TensorBatches
from lit_rnn.errors import UserError, check_config

MNIST_TRAIN_SIZE = 60_000


class DataError(UserError):
    """The MNIST files are missing, unreadable or malformed."""


RAW_FILES = [name.removesuffix(".gz") for name, _ in MNIST.resources]


def load_mnist(data_dir: str | Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode MNIST's IDX files with torchvision into uint8 images ``(N, 28, 28)`` and int64 labels ``(N,)``."""
    split = "training" if train else "test"
    raw = Path(data_dir) / "MNIST" / "raw"
    missing = [name for name in RAW_FILES if not (raw / name).is_file()]
    if missing:
        raise DataError(
            f"The MNIST files {', '.join(missing)} are not in {raw}. Put the four IDX files there "
            f"({', '.join(RAW_FILES)}), point --data.data_dir at the folder that holds MNIST/raw, "
            "or run with a network connection so that they can be downloaded."
        )
    try:
        dataset = MNIST(str(data_dir), train=train, download=False)
    except Exception as error:  # torchvision's IDX parser fails with bare asserts and view errors
        raise DataError(
            f"The MNIST {split} files in {raw} could not be read ({type(error).__name__}: {error}). "
            "They are probably truncated or not MNIST IDX files: replace them with the original files."
        ) from None
    images, labels = dataset.data, dataset.targets
    if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise DataError(
            f"The MNIST {split} files in {raw} do not match: {tuple(images.shape)} images for "
            f"{len(labels)} labels, where 28x28 images and one label per image are expected. "
            "Delete them and download them again."
        )
    return images, labels


class MNISTDataModule(L.LightningDataModule):
    """MNIST's official 60,000 training images split into train and validation, and its 10,000 test images.

    Args:
        data_dir: Folder holding ``MNIST/raw/`` (the four IDX files); they are downloaded there if missing.
        batch_size: Training images per step (per process, when training on several).
        val_size: Training images held out for validation; the rest are trained on.
        split_seed: Seed of the train/validation split, which is the same in every run and stage.
        eval_batch_size: Images per batch when validating, testing and predicting.
    """

    def __init__(
        self,
        data_dir: str = "data",
        batch_size: int = 64,
        val_size: int = 5_000,
        split_seed: int = 0,
        eval_batch_size: int = 1_000,
    ) -> None:
        super().__init__()
        check_config(batch_size > 0, "data.batch_size", batch_size, "a positive whole number")
        check_config(eval_batch_size > 0, "data.eval_batch_size", eval_batch_size, "a positive whole number")
        check_config(0 < val_size < MNIST_TRAIN_SIZE, "data.val_size", val_size, f"between 1 and {MNIST_TRAIN_SIZE - 1:,}")
        self.save_hyperparameters(logger=False)
        self.data_dir = data_dir
        self.batch_size, self.val_size, self.split_seed = batch_size, val_size, split_seed
        self.eval_batch_size = eval_batch_size
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def prepare_data(self) -> None:
        """Download MNIST unless its files are already in ``data_dir`` (runs on one process per machine)."""
        if self._files_present():
            return
        root = Path(self.data_dir)
        raw = root / "MNIST" / "raw"
        try:
            root.mkdir(exist_ok=True)  # not its parents: a mistyped path should fail, not grow a tree
            raw.mkdir(parents=True, exist_ok=True)
        except FileNotFoundError:
            raise DataError(
                f"The data folder {root} does not exist, nor does its parent {root.parent}. "
                "Check --data.data_dir: it is the folder that holds (or will hold) MNIST/raw."
            ) from None
        except OSError as error:
            raise DataError(
                f"MNIST is not in {raw}, and it cannot be downloaded there: {error.strerror}. "
                "Point --data.data_dir at a folder you can write, or at one that already holds MNIST/raw."
            ) from None
        try:
            for train in (True, False):
                MNIST(self.data_dir, train=train, download=True)
        except Exception as error:  # no network, a mirror down, a full disk
            raise DataError(
                f"MNIST is not in {raw} and could not be downloaded ({type(error).__name__}: {error}). "
                f"Put the four IDX files ({', '.join(RAW_FILES)}) there by hand, "
                "or point --data.data_dir at a folder that holds MNIST/raw."
            ) from None

    def _files_present(self) -> bool:
        raw = Path(self.data_dir) / "MNIST" / "raw"
        return all((raw / name).is_file() for name in RAW_FILES)

    def setup(self, stage: str) -> None:
        if self.splits:
            return
        device = self.trainer.strategy.root_device if self.trainer else torch.device("cpu")
        images, labels = load_mnist(self.data_dir, train=True)
        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(self.split_seed))
        val, train = order[: self.val_size], order[self.val_size :]
        test_images, test_labels = load_mnist(self.data_dir, train=False)
        self.splits = {
            name: (x.to(device), y.to(device))
            for name, (x, y) in {
                "train": (images[train], labels[train]),
                "val": (images[val], labels[val]),
                "test": (test_images, test_labels),
            }.items()
        }

    def _rank_and_world_size(self) -> tuple[int, int]:
        return (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)

    def train_dataloader(self) -> TensorBatches:
        rank, world_size = self._rank_and_world_size()
        # The shuffle order follows the run's seed (LightningCLI's seed_everything).
        return TensorBatches(
            *self.splits["train"], self.batch_size, shuffle=True, seed=torch.initial_seed(),
            rank=rank, world_size=world_size, start_at=self._batches_done_this_epoch,
        )

    def _batches_done_this_epoch(self) -> int:
        """Where the training epoch starts: 0, or on a resume the batches of it already trained.

        Lightning's own progress counter, restored with its loops from the checkpoint, is the one record of the
        position: Lightning continues its count of the epoch's batches from it, and so does the loader.
        """
        return self.trainer.fit_loop.epoch_loop.batch_progress.current.ready if self.trainer else 0

    def state_dict(self) -> dict[str, Any]:
        """The seed of the shuffle order, so that a resume with another order can be refused before it starts."""
        return {"shuffle_seed": torch.initial_seed()}

    def _eval_batches(self, split: str) -> TensorBatches:
        rank, world_size = self._rank_and_world_size()
        return TensorBatches(*self.splits[split], self.eval_batch_size, rank=rank, world_size=world_size)

    def val_dataloader(self) -> TensorBatches:
        return self._eval_batches("val")

    def test_dataloader(self) -> TensorBatches:
        return self._eval_batches("test")
