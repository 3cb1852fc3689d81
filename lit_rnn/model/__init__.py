"""The model: the recurrent network as a plain ``nn.Module`` (``network``) and the LightningModule that trains it
(``classifier``). Imports only ``base``.

``lit_rnn.model.MNISTClassifier`` is the class a run's ``config.yaml`` has named from the start: it is found here,
loaded on first use, so that importing the network alone does not import Lightning.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "MNISTClassifier":
        from lit_rnn.model.classifier import MNISTClassifier

        return MNISTClassifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
