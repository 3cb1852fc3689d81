"""A model that ``python -m lit_rnn.fit`` trained, found from ``--ckpt_path`` and rebuilt from its checkpoint: what
the commands that use one (predict, test, export) start from.

The network is rebuilt from its own settings alone, each checked, and nothing else the checkpoint names is used:
Lightning's ``load_from_checkpoint`` would import whatever class a crafted checkpoint names.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lit_rnn.base.errors import ConfigError, summarize
from lit_rnn.model.network import ARCHITECTURE_KEYS, RecurrentClassifier
from lit_rnn.runs import folders as runs
from lit_rnn.runs.checkpointing import CheckpointError, read_checkpoint

NOT_OURS = "Give a .ckpt file that python -m lit_rnn.fit wrote, such as lightning_logs/version_0/checkpoints/last.ckpt."


@dataclass(frozen=True)
class TrainedNetwork:
    """A checkpoint's network, with what its run saved beside it.

    Attributes:
        path: The checkpoint file.
        network: The network with the checkpoint's weights, in eval mode.
        architecture: The checked settings it was built with (``ARCHITECTURE_KEYS``), to build the same again.
        checkpoint: All the checkpoint holds (tensors and plain data only).
    """

    path: Path
    network: RecurrentClassifier
    architecture: dict[str, Any]
    checkpoint: dict[str, Any]

    @property
    def data_settings(self) -> dict[str, Any]:
        """The ``MNISTDataModule`` arguments the run trained with, as saved (unchecked); empty if none were."""
        saved = self.checkpoint.get("datamodule_hyper_parameters")
        return (
            {key: value for key, value in saved.items() if not str(key).startswith("_")}
            if isinstance(saved, dict)
            else {}
        )

    @property
    def data_dir(self) -> str | None:
        """The data folder the run trained on, if the checkpoint names one."""
        data_dir = self.data_settings.get("data_dir")
        return data_dir if isinstance(data_dir, str) else None

    @property
    def run(self) -> Path | None:
        """The run folder that holds the checkpoint; None for a file outside any run."""
        return runs.run_of(self.path)


def find_checkpoint(which: str, log_root: Path = runs.LOG_ROOT) -> Path:
    """The checkpoint ``which`` names: a path, or the ``best``/``last`` of the newest run under ``log_root`` that has one.

    ``last`` is the run's newest checkpoint of any kind, as for ``fit --ckpt_path last``: the recovery checkpoint
    written when training ended is newer than ``last.ckpt``, which Lightning rewrites only on a new best.
    """
    if which == "best":
        return runs.best_checkpoint(log_root)
    if which == "last":
        return runs.last_checkpoint(log_root)[0]
    return Path(which)


def load_network(path: Path) -> TrainedNetwork:
    """The network saved in a checkpoint that ``python -m lit_rnn.fit`` wrote, rebuilt and checked.

    Raises:
        CheckpointError: the file is damaged, foreign, holds settings that cannot be built or weights that are not
            finite numbers.
    """
    checkpoint = read_checkpoint(
        path
    )  # refuses damaged, foreign and code-carrying files with a message naming the problem
    settings = checkpoint.get("hyper_parameters")
    weights = checkpoint["state_dict"]
    if not isinstance(settings, dict) or not isinstance(weights, dict):
        raise CheckpointError(path, "is not a checkpoint of this project's model: it holds no model settings", NOT_OURS)
    architecture = {key: settings[key] for key in ARCHITECTURE_KEYS if key in settings}
    try:
        network = RecurrentClassifier(**architecture)
        network.load_state_dict(
            {
                name.removeprefix("network."): weight
                for name, weight in weights.items()
                if isinstance(name, str) and name.startswith("network.")
            }
        )
    except ConfigError as error:
        raise CheckpointError(path, f"holds model settings that cannot be built ({error.problem})", NOT_OURS) from None
    except Exception as error:  # missing, foreign, misshapen or non-tensor weights
        raise CheckpointError(
            path, f"is not a checkpoint of this project's model ({summarize(error)})", NOT_OURS
        ) from None
    if not all(torch.isfinite(weight).all() for weight in network.state_dict().values()):
        raise CheckpointError(
            path,
            "holds weights that are not finite numbers (NaN or infinite): the training that wrote it diverged",
            "Give an earlier checkpoint of that run, or train again with a lower --model.optimizer.lr.",
        )
    return TrainedNetwork(path, network.eval(), architecture, checkpoint)
