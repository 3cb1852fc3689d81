"""The data: MNIST as a LightningDataModule (``datamodule``), its in-memory batches (``batches``), and a user's
picture of a digit turned into an MNIST-like image (``digits``). Imports only ``base``.

``lit_rnn.data.MNISTDataModule``, the name older runs' configs use, is found here, loaded on first use.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "MNISTDataModule":
        from lit_rnn.data.datamodule import MNISTDataModule

        return MNISTDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
