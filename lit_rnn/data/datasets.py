"""The datasets of MNIST's format that a run may train on (``--data.dataset``): 28x28 one-channel images in IDX files,
60,000 to train and 10,000 to test, each read and downloaded by torchvision's own class.

To add one: an entry in ``DATASETS``, and a config that names it (``configs/datasets/NAME.yaml``).
"""

from dataclasses import dataclass
from typing import Literal

from torchvision.datasets import KMNIST, MNIST, FashionMNIST


@dataclass(frozen=True)
class ImageDataset:
    """A dataset of MNIST's format.

    Attributes:
        title: Its name in sentences ("the Fashion-MNIST files").
        source: torchvision's class, whose name is the folder of its files (``DATA_DIR/NAME/raw``) and which
            downloads them.
        class_names: The name of each class, by label: what predict, serve, the figures and the test's table say.
    """

    title: str
    source: type[MNIST]
    class_names: tuple[str, ...]

    @property
    def folder(self) -> str:
        """The folder under ``data_dir`` that torchvision reads the files from."""
        return self.source.__name__

    @property
    def raw_files(self) -> list[str]:
        return [name.removesuffix(".gz") for name, _ in self.source.resources]


DATASETS = {
    "mnist": ImageDataset("MNIST", MNIST, tuple(str(digit) for digit in range(10))),
    "fashion_mnist": ImageDataset("Fashion-MNIST", FashionMNIST, tuple(FashionMNIST.classes)),
    "kmnist": ImageDataset("Kuzushiji-MNIST", KMNIST, tuple(KMNIST.classes)),
}
DatasetName = Literal[tuple(DATASETS)]  # the choices of --data.dataset, as --help lists them
