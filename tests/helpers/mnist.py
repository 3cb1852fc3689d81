"""Tiny MNIST-format IDX files that the tests write, so that torchvision's real loader reads them."""

import struct
from pathlib import Path

import numpy as np

IDX_NAMES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array in MNIST's IDX format (magic 0x0008 0xdims, then big-endian sizes)."""
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def learnable_digits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy 28x28 images whose label is written as a bright band at rows 2*label..2*label+2: easy to learn."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 10
    rng.shuffle(labels)
    images = rng.integers(0, 60, size=(count, 28, 28))
    for image, label in zip(images, labels):
        image[2 * label : 2 * label + 3, 4:24] = 255
    return images.astype(np.uint8), labels.astype(np.uint8)


def make_mnist(root: Path, train_count: int = 600, test_count: int = 200, folder: str = "MNIST") -> Path:
    """A data_dir under ``root`` with ``train_count`` training and ``test_count`` test images in MNIST's IDX layout,
    in ``folder`` (torchvision's name of the dataset: ``FashionMNIST``, ``KMNIST`` for the others of its format)."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    for train, count in ((True, train_count), (False, test_count)):
        images, labels = learnable_digits(count, seed=int(train))
        write_idx(raw / IDX_NAMES[train][0], images)
        write_idx(raw / IDX_NAMES[train][1], labels)
    return root
