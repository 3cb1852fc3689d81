"""A model that ``python -m lit_rnn.fit`` trained, found from ``--ckpt_path`` and rebuilt from its checkpoint: what
the commands that use one (test, predict, export, serve) start from.

The network is rebuilt from its own saved settings (``class_path`` and ``init_args``), and nothing is imported that is
not a known network: a class of ``lit_rnn.model.networks``, or of a module the user allows (``--allow_module``), as
checked before anything is imported or built. Lightning's ``load_from_checkpoint`` would import whatever class a
crafted checkpoint names.
"""

import importlib
import inspect
import pkgutil
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lit_rnn.base.errors import ConfigError, summarize
from lit_rnn.data.datamodule import MNIST
from lit_rnn.data.datasets import DATASETS, ImageDataset
from lit_rnn.model import networks
from lit_rnn.model.classifier import MNISTClassifier
from lit_rnn.model.standardize import Standardized
from lit_rnn.runs import folders as runs
from lit_rnn.runs.checkpointing import CheckpointError, read_checkpoint

NOT_OURS = "Give a .ckpt file that python -m lit_rnn.fit wrote, such as lightning_logs/version_0/checkpoints/last.ckpt."


@dataclass(frozen=True)
class TrainedNetwork:
    """A checkpoint's model, with what its run saved beside it.

    Attributes:
        path: The checkpoint file.
        model: The LightningModule with the checkpoint's network and standardization, in eval mode.
        settings: The model settings it was rebuilt from (``network``'s class_path and init_args, normalize_input).
        checkpoint: All the checkpoint holds (tensors and plain data only).
        allowed_modules: The user's modules it was allowed to import a network from, to load it so again elsewhere.
    """

    path: Path
    model: MNISTClassifier
    settings: dict[str, Any]
    checkpoint: dict[str, Any]
    allowed_modules: tuple[str, ...] = ()

    @property
    def network(self) -> Standardized:
        """The network behind its standardization: images with pixels in [0, 1] in, logits out."""
        return self.model.reader()

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
    def dataset(self) -> ImageDataset:
        """The dataset the run trained on (MNIST for a run from before there was a choice)."""
        return DATASETS.get(self.data_settings.get("dataset", "mnist"), MNIST)

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


@cache
def known_network_modules() -> frozenset[str]:
    """The modules of ``lit_rnn.model.networks``, listed from the package's folder (nothing is imported)."""
    return frozenset(f"{networks.__name__}.{module.name}" for module in pkgutil.iter_modules(networks.__path__))


def _allowed(module: str, allowed_modules: Sequence[str]) -> bool:
    return module in known_network_modules() or any(
        module == allowed or module.startswith(f"{allowed}.") for allowed in allowed_modules
    )


def network_class(path: Path, class_path: Any, allowed_modules: Sequence[str] = ()) -> type[nn.Module]:
    """The network class a checkpoint names, imported only once it is known to be a network of lit_rnn or of a module
    the user allows.

    Raises:
        CheckpointError: naming the class, and how to allow its module where it is the user's own.
    """
    if not isinstance(class_path, str) or "." not in class_path:
        raise CheckpointError(path, f"names no network class ({class_path!r} is not a class path)", NOT_OURS)
    module, _, name = class_path.rpartition(".")
    if not _allowed(module, allowed_modules):
        raise CheckpointError(
            path,
            f"names the network {class_path}, which is not one of lit_rnn's networks, so nothing of it was imported",
            f"If {module} is your own code and you trust this checkpoint, allow it with --allow_module {module}.",
        )
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as error:
        raise CheckpointError(
            path, f"names the network {class_path}, which cannot be imported ({summarize(error)})"
        ) from None
    if not (inspect.isclass(found) and issubclass(found, nn.Module) and found.__module__ == module):
        raise CheckpointError(
            path, f"names {class_path} as its network, which is not a torch.nn.Module class of {module}", NOT_OURS
        )
    return found


def load_network(path: Path, allowed_modules: Sequence[str] = ()) -> TrainedNetwork:
    """The model saved in a checkpoint that ``python -m lit_rnn.fit`` wrote, rebuilt and checked.

    Args:
        path: The checkpoint file.
        allowed_modules: Modules (and their submodules) whose network classes may be imported, besides lit_rnn's.

    Raises:
        CheckpointError: the file is damaged, foreign, names a network not allowed, holds settings that cannot be built
            or weights that are not finite numbers.
    """
    checkpoint = read_checkpoint(path)  # refuses damaged, foreign and code-carrying files with a message naming it
    settings, weights = checkpoint.get("hyper_parameters"), checkpoint["state_dict"]
    described = settings.get("network") if isinstance(settings, dict) else None
    if not isinstance(described, dict) or not isinstance(weights, dict):
        raise CheckpointError(
            path, "is not a checkpoint of this project's model: it holds no network settings", NOT_OURS
        )
    init_args = described.get("init_args")
    if not isinstance(init_args, dict) or not all(isinstance(key, str) for key in init_args):
        raise CheckpointError(
            path,
            "holds no settings to rebuild its network with: its model was built in code, not by python -m lit_rnn.fit",
            NOT_OURS,
        )
    cls = network_class(path, described.get("class_path"), allowed_modules)
    try:
        model = MNISTClassifier(cls(**init_args), normalize_input=settings.get("normalize_input", False))
        reader = model.reader()
        reader.load_state_dict(
            {name: weight for name, weight in weights.items() if str(name).startswith(("network.", "standardize."))}
        )
    except ConfigError as error:
        raise CheckpointError(path, f"holds model settings that cannot be built ({error.problem})", NOT_OURS) from None
    except Exception as error:  # unknown arguments; missing, foreign, misshapen or non-tensor weights
        raise CheckpointError(
            path, f"is not a checkpoint of this project's model ({summarize(error)})", NOT_OURS
        ) from None
    if not all(torch.isfinite(weight).all() for weight in reader.state_dict().values()):
        raise CheckpointError(
            path,
            "holds weights that are not finite numbers (NaN or infinite): the training that wrote it diverged",
            "Give an earlier checkpoint of that run, or train again with a lower --model.optimizer.lr.",
        )
    rebuilt = {"network": described, "normalize_input": model.standardize is not None}
    return TrainedNetwork(path, model.eval(), rebuilt, checkpoint, tuple(allowed_modules))
