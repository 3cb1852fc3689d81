"""A dataset of MNIST's format (``datasets``) as a LightningDataModule: download, a fixed train/validation split, and
fast in-memory batches."""

import errno
import math
import os
import shutil
import struct
from pathlib import Path
from typing import Any

import lightning as L
import torch

from lit_rnn.base.errors import UserError, check_config, summarize
from lit_rnn.base.private_apis import batches_begun_this_epoch
from lit_rnn.data.batches import TensorBatches
from lit_rnn.data.datasets import DATASETS, DatasetName, ImageDataset

MNIST_TRAIN_SIZE = 60_000
MNIST_TEST_SIZE = 10_000
IDX_UINT8 = 0x08  # the third byte of an IDX file's magic number: the element type
IMAGE_SHAPE = (28, 28)


MNIST = DATASETS["mnist"]


class DataError(UserError):
    """The dataset's files are missing, unreadable or malformed."""


def _replace(dataset: ImageDataset) -> str:
    return (
        f"Replace it with the original {dataset.title} file, or point --data.data_dir at a folder holding the original "
        "files."
    )


def _folder_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot hold files (a file, a broken or looping link, no permission), or None if it can or is absent."""
    if not os.path.lexists(folder):
        return None
    try:
        os.stat(folder)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return f"{folder} is a symbolic link that loops back on itself"
        if error.errno == errno.ENOENT:
            return f"{folder} is a symbolic link to {os.readlink(folder)}, which does not exist"
        return f"{folder} cannot be opened ({error.strerror})"
    if not folder.is_dir():
        return f"{folder} is a file, not a folder"
    if not os.access(folder, os.R_OK | os.X_OK):
        return f"{folder} cannot be read (permission denied)"
    return None


def _check_folders(data_dir: str | Path, dataset: ImageDataset) -> None:
    """Refuse a data folder, or a folder on its way to NAME/raw, that is not a readable folder."""
    root = Path(data_dir)
    for folder in (root, root / dataset.folder, root / dataset.folder / "raw"):
        problem = _folder_problem(folder)
        if problem:
            raise DataError(
                f"The data folder {problem}. Point --data.data_dir at a folder that holds {dataset.folder}/raw, "
                f"or at a new folder's path to download {dataset.title} there."
            )


def _check_idx_file(path: Path, item_shape: tuple[int, ...], dataset: ImageDataset) -> int:
    """Check an IDX file's header and length before torchvision reads it; returns how many items it holds.

    torchvision's parser fails on a malformed file with bare asserts and view errors, and reads the whole file
    into memory first, whatever its size.
    """
    kind = "images of 28x28 pixels" if item_shape else "labels"
    dimensions = 1 + len(item_shape)
    with path.open("rb") as handle:
        header = handle.read(4 + 4 * dimensions)
    if len(header) < 4 + 4 * dimensions:
        raise DataError(
            f"The {dataset.title} file {path} is truncated: it is shorter than the header of a file of {kind}. "
            f"{_replace(dataset)}"
        )
    zeros, element_type, found_dimensions = struct.unpack(">HBB", header[:4])
    if zeros != 0 or element_type != IDX_UINT8 or found_dimensions != dimensions:
        raise DataError(
            f"The {dataset.title} file {path} is not an IDX file of uint8 {kind}: its header announces element type "
            f"0x{element_type:02x} in {found_dimensions} dimensions, where 0x{IDX_UINT8:02x} in {dimensions} are "
            f"expected. {_replace(dataset)}"
        )
    count, *shape = struct.unpack(f">{dimensions}I", header[4:])
    if tuple(shape) != item_shape or count == 0:
        found = f"{count:,} items of shape {'x'.join(map(str, shape))}" if shape else f"{count:,} items"
        raise DataError(
            f"The {dataset.title} file {path} holds {found}, but it should hold one or more {kind}. {_replace(dataset)}"
        )
    expected_size = len(header) + count * math.prod(item_shape)
    if path.stat().st_size != expected_size:
        raise DataError(
            f"The {dataset.title} file {path} is {path.stat().st_size:,} bytes long, but its header announces {count:,} {kind}, "
            f"{expected_size:,} bytes: it is truncated or has extra bytes. {_replace(dataset)}"
        )
    return count


def load_images(data_dir: str | Path, train: bool, dataset: ImageDataset = MNIST) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode a dataset's IDX files with torchvision into uint8 images ``(N, 28, 28)`` and int64 labels ``(N,)``."""
    _check_folders(data_dir, dataset)
    raw = Path(data_dir) / dataset.folder / "raw"
    names = dataset.raw_files
    missing = [name for name in names if not (raw / name).is_file()]
    if missing:
        raise DataError(
            f"The {dataset.title} files {', '.join(missing)} are not in {raw}. Put the four IDX files there "
            f"({', '.join(names)}), point --data.data_dir at the folder that holds {dataset.folder}/raw, "
            "or run with a network connection so that they can be downloaded."
        )
    image_name, label_name = (name for name in names if name.startswith("train" if train else "t10k"))
    original = f"Replace them with the original {dataset.title} files."
    try:
        counts = _check_idx_file(raw / image_name, IMAGE_SHAPE, dataset), _check_idx_file(raw / label_name, (), dataset)
        loaded = dataset.source(str(data_dir), train=train, download=False)
    except DataError:
        raise
    except Exception as error:  # unreadable files, or a failure the header check did not foresee
        raise DataError(
            f"The {dataset.title} files {image_name} and {label_name} in {raw} could not be read ({summarize(error)}). "
            f"{original}"
        ) from None
    if counts[0] != counts[1]:
        raise DataError(
            f"The {dataset.title} files in {raw} do not match: {image_name} holds {counts[0]:,} images but "
            f"{label_name} {counts[1]:,} labels, where there is one label per image. {original}"
        )
    labels, classes = loaded.targets, len(dataset.class_names)
    wrong = (labels >= classes).nonzero().flatten()  # uint8 in the file: never negative
    if len(wrong):
        position = wrong[0].item()
        more = f" (and {len(wrong) - 1:,} more labels outside 0-{classes - 1})" if len(wrong) > 1 else ""
        raise DataError(
            f"The {dataset.title} label file {raw / label_name} holds the label {labels[position].item()} at position "
            f"{position:,}{more}, but {dataset.title}'s labels are 0 to {classes - 1}. {_replace(dataset)}"
        )
    return loaded.data, labels


def pixel_statistics(images: torch.Tensor) -> tuple[float, float]:
    """The mean and standard deviation of uint8 ``images``' pixels on the [0, 1] scale, exact: from the count of each
    of the 256 values, without a float copy of the images."""
    counts = torch.bincount(images.flatten().cpu(), minlength=256).double()
    values = torch.arange(256, dtype=torch.float64) / 255
    mean = (counts * values).sum() / counts.sum()
    variance = (counts * (values - mean) ** 2).sum() / counts.sum()
    return mean.item(), variance.sqrt().item()


class MNISTDataModule(L.LightningDataModule):
    """A dataset of MNIST's format: its 60,000 training images split into train and validation, and its 10,000 test
    images.

    Args:
        data_dir: Folder holding ``NAME/raw/`` (the four IDX files, NAME as torchvision names the dataset: ``MNIST``,
            ``FashionMNIST``, ``KMNIST``); they are downloaded there if missing.
        dataset: Which dataset: ``mnist`` (the tutorial's digits), ``fashion_mnist`` (Zalando's clothes) or
            ``kmnist`` (Kuzushiji, cursive Japanese characters).
        batch_size: Training images per step (per process, when training on several).
        val_size: Training images held out for validation; the rest are trained on.
        split_seed: Seed of the train/validation split, which is the same in every run and stage.
        eval_batch_size: Images per batch when validating, testing and predicting.
    """

    def __init__(
        self,
        data_dir: str = "data",
        dataset: DatasetName = "mnist",
        batch_size: int = 64,
        val_size: int = 5_000,
        split_seed: int = 0,
        eval_batch_size: int = 250,
    ) -> None:
        super().__init__()
        check_config(batch_size > 0, "data.batch_size", batch_size, "a positive whole number")
        check_config(eval_batch_size > 0, "data.eval_batch_size", eval_batch_size, "a positive whole number")
        check_config(
            data_dir != "", "data.data_dir", data_dir, "the path of the folder that holds (or will hold) its files"
        )
        check_config(dataset in DATASETS, "data.dataset", dataset, f"one of {', '.join(map(repr, DATASETS))}")
        check_config(
            0 < val_size < MNIST_TRAIN_SIZE, "data.val_size", val_size, f"between 1 and {MNIST_TRAIN_SIZE - 1:,}"
        )
        self.save_hyperparameters(logger=False)
        self.data_dir, self.dataset = data_dir, DATASETS[dataset]
        self.batch_size, self.val_size, self.split_seed = batch_size, val_size, split_seed
        self.eval_batch_size = eval_batch_size
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.resumed_shuffle_seed: int | None = None  # a resumed run's own, from its checkpoint

    def prepare_data(self) -> None:
        """Download the dataset unless its files are already in ``data_dir`` (runs on one process per machine).

        A failed download removes the folders it created, so that a mistyped ``data_dir`` leaves nothing behind.
        """
        _check_folders(self.data_dir, self.dataset)
        if self._files_present():
            return
        root = Path(self.data_dir)
        title, folder = self.dataset.title, self.dataset.folder
        raw = root / folder / "raw"
        created = [folder for folder in (root, root / folder, raw) if not os.path.lexists(folder)]
        try:
            root.mkdir(exist_ok=True)  # not its parents: a mistyped path should fail, not grow a tree
            raw.mkdir(parents=True, exist_ok=True)
        except FileNotFoundError:
            raise DataError(
                f"The data folder {root} does not exist, nor does its parent {root.parent}. "
                f"Check --data.data_dir: it is the folder that holds (or will hold) {folder}/raw."
            ) from None
        except OSError as error:
            raise DataError(
                f"{title} is not in {raw}, and it cannot be downloaded there: {error.strerror}. "
                f"Point --data.data_dir at a folder you can write, or at one that already holds {folder}/raw."
            ) from None
        try:
            for train in (True, False):
                self.dataset.source(self.data_dir, train=train, download=True)
        except Exception as error:  # no network, a mirror down, a full disk
            if created:
                shutil.rmtree(created[0], ignore_errors=True)
            raise DataError(
                f"{title} is not in {raw} and could not be downloaded ({summarize(error)}). "
                f"Put the four IDX files ({', '.join(self.dataset.raw_files)}) there by hand, "
                f"or point --data.data_dir at a folder that holds {folder}/raw."
            ) from None

    def _files_present(self) -> bool:
        raw = Path(self.data_dir) / self.dataset.folder / "raw"
        return all((raw / name).is_file() for name in self.dataset.raw_files)

    @property
    def num_classes(self) -> int:
        return len(self.dataset.class_names)

    def pixel_statistics(self) -> tuple[float, float]:
        """The mean and standard deviation of the training split's pixels, on the [0, 1] scale."""
        return pixel_statistics(self.splits["train"][0])

    def setup(self, stage: str) -> None:
        """The splits, in memory."""
        if self.splits:
            return
        device = self.trainer.strategy.root_device if self.trainer else torch.device("cpu")
        images, labels = load_images(self.data_dir, True, self.dataset)
        check_config(
            self.val_size < len(labels),
            "data.val_size",
            self.val_size,
            f"below {len(labels):,}, the number of training images in {self.data_dir}, to leave some to train on",
        )
        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(self.split_seed))
        val, train = order[: self.val_size], order[self.val_size :]
        test_images, test_labels = load_images(self.data_dir, False, self.dataset)
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
        return TensorBatches(
            *self.splits["train"],
            self.batch_size,
            shuffle=True,
            seed=self._shuffle_seed(),
            rank=rank,
            world_size=world_size,
            start_at=self._batches_done_this_epoch,
        )

    def _batches_done_this_epoch(self) -> int:
        """Where the training epoch starts: 0, or on a resume the batches of it already trained.

        Lightning's own progress counter, restored with its loops from the checkpoint, is the one record of the
        position: Lightning continues its count of the epoch's batches from it, and so does the loader.
        """
        return batches_begun_this_epoch(self.trainer) if self.trainer else 0

    def _shuffle_seed(self) -> int:
        """The run's seed (LightningCLI's seed_everything); on a resume, the run's own from its checkpoint, which is
        the only record of it in a run without a seed (``--seed_everything false``)."""
        return torch.initial_seed() if self.resumed_shuffle_seed is None else self.resumed_shuffle_seed

    def state_dict(self) -> dict[str, Any]:
        """The seed of the shuffle order, so that a resume shuffles as the run did, or is refused another order."""
        return {"shuffle_seed": self._shuffle_seed()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.resumed_shuffle_seed = state_dict.get("shuffle_seed")

    def _eval_batches(self, split: str) -> TensorBatches:
        rank, world_size = self._rank_and_world_size()
        return TensorBatches(*self.splits[split], self.eval_batch_size, rank=rank, world_size=world_size)

    def images_in(self, split: str, batches: int) -> int:
        """How many images of ``split`` its first ``batches`` evaluation batches hold, over every process."""
        _, world_size = self._rank_and_world_size()
        return min(len(self.splits[split][1]), batches * self.eval_batch_size * world_size)

    def val_dataloader(self) -> TensorBatches:
        return self._eval_batches("val")

    def test_dataloader(self) -> TensorBatches:
        return self._eval_batches("test")
