"""Classes named by ``class_path``: of the kind their place expects, checked before anything is built or called.

LightningCLI builds whatever a ``class_path`` names. For the optimizer and the schedule, whose type is "a callable
that returns one", jsonargparse also accepts a plain function, which it then *calls* with the ``init_args``: a config
naming ``os.system`` would run a command. So every place a config names a class (``CLASS_PLACES``) is checked here,
after parsing (which imports but calls nothing) and before anything is built: the one check that fit, the sweep's
check of its space and every trial pass through. Before parsing, a name in Python's standard library is refused
without importing it: no class of any of these kinds lives there, and some of its modules act when imported
(``antigravity`` opens a web browser). A module of the user's own, named on their own command line or config, is
imported as jsonargparse imports it (a network of their own trains so). A file that a command reads by itself (a run's
``config.yaml``, a checkpoint) is not the user's own command: the classes it names are looked up among known ones by
name (``known_logger``, and ``trained.loading`` for networks), and nothing it names is imported.
"""

import importlib
import inspect
import sys
from collections.abc import Iterator
from typing import Any

import yaml
from jsonargparse import Namespace
from lightning.fabric.plugins import CheckpointIO, ClusterEnvironment
from lightning.pytorch.accelerators import Accelerator
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger, Logger, MLFlowLogger, TensorBoardLogger
from lightning.pytorch.plugins import LayerSync, Precision
from lightning.pytorch.profilers import Profiler
from lightning.pytorch.strategies import Strategy
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from lit_rnn.base.errors import ConfigError

# Where a config names a class, and the kind it must be: key -> (base classes, an example for the message).
CLASS_PLACES = {
    "model.network": ((nn.Module,), "lit_rnn.model.networks.cnn.ConvNet"),
    "model.optimizer": ((Optimizer,), "torch.optim.AdamW"),
    "model.scheduler": ((LRScheduler, ReduceLROnPlateau), "torch.optim.lr_scheduler.OneCycleLR"),
    "trainer.logger": ((Logger,), "lightning.pytorch.loggers.CSVLogger"),
    "trainer.callbacks": ((Callback,), "lightning.pytorch.callbacks.EarlyStopping"),
    "trainer.profiler": ((Profiler,), "lightning.pytorch.profilers.SimpleProfiler"),
    "trainer.strategy": ((Strategy,), "lightning.pytorch.strategies.DDPStrategy"),
    "trainer.accelerator": ((Accelerator,), "lightning.pytorch.accelerators.CPUAccelerator"),
    "trainer.plugins": (
        (Precision, ClusterEnvironment, CheckpointIO, LayerSync),
        "lightning.pytorch.plugins.TorchCheckpointIO",
    ),
}
STANDARD_LIBRARY = frozenset(sys.stdlib_module_names)
# The loggers a run's config.yaml may name, by every name the CLI writes for them (the package's, the module's).
KNOWN_LOGGERS = {
    f"{module}.{cls.__name__}": cls
    for cls in (TensorBoardLogger, CSVLogger, MLFlowLogger)
    for module in ("lightning.pytorch.loggers", cls.__module__)
}


def imported(class_path: str) -> Any:
    """The object ``class_path`` names, imported as LightningCLI imports it; None where it cannot be."""
    module, _, name = class_path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None


def _kinds_named(kinds: tuple[type, ...]) -> str:
    return " or ".join(f"{kind.__module__}.{kind.__name__}" for kind in kinds)


def check_called_classes(config: Namespace) -> None:
    """Refuse, before anything is built, a ``class_path`` in any of ``CLASS_PLACES`` that is not a class of its kind.

    Raises:
        ConfigError: naming the key, what it names, and the kind it must be.
    """
    for key, (kinds, example) in CLASS_PLACES.items():
        given = config.get(key)
        for item in given if isinstance(given, list) else [given]:
            class_path = item.get("class_path") if isinstance(item, Namespace) else None
            if class_path is None:
                continue  # nothing, or a name Lightning looks up itself ("ddp", "simple", "auto")
            named = imported(class_path)
            if not (inspect.isclass(named) and issubclass(named, kinds)):
                problem = f"--{key} is {class_path}, which is not a subclass of {_kinds_named(kinds)}"
                raise ConfigError(
                    f"{problem}: a config names the class to build, never a function to call. Give a class such as "
                    f"{example}.",
                    problem,
                )


def check_named_modules(args: list[str]) -> None:
    """Refuse, before parsing imports it, a class that a command line names in the standard library: by a
    ``class_path`` in a value given as JSON or YAML, or as the value of a class's place (``--model.optimizer X``).

    Raises:
        ConfigError: naming the key, and the name.
    """
    for key, value in _options(args):
        if value.lstrip().startswith(("{", "[")):
            try:
                data = yaml.safe_load(value)
            except yaml.YAMLError:
                continue  # jsonargparse says what is wrong with it
            check_file_modules(data, "", key)
        elif key in CLASS_PLACES or key.endswith(".class_path"):
            _check_module(key.removesuffix(".class_path"), value, "")


def check_file_modules(data: Any, source: str, where: str = "") -> None:
    """``check_named_modules`` for a config file's data, as read from YAML (a sweep's space included).

    Raises:
        ConfigError: naming the key, the file, and the name.
    """
    for place, class_path in _class_paths(data, where):
        _check_module(place, class_path, f" (in {source})" if source else "")


def _options(args: list[str]) -> Iterator[tuple[str, str]]:
    """Each ``--key=value`` and ``--key value`` of a command line, the key without its ``--`` and a list's ``+``."""
    for flag, following in zip(args, [*args[1:], ""]):
        if not flag.startswith("--"):
            continue
        key, given, value = flag[2:].partition("=")
        yield key.rstrip("+"), value if given else following


def _class_paths(data: Any, where: str) -> Iterator[tuple[str, str]]:
    """Each class named in ``data`` (found at the dotted key ``where``): by a ``class_path``, or as the whole value of a
    class's place (``optimizer: torch.optim.SGD``), a sweep's space of such values included."""
    place = where.removeprefix("sweep.space.")
    if isinstance(data, str) and place in CLASS_PLACES:
        yield place, data
    elif isinstance(data, dict):
        for key, value in data.items():
            if key == "class_path" and isinstance(value, str):
                yield place, value
            else:
                yield from _class_paths(value, f"{where}.{key}" if where else str(key))
    elif isinstance(data, list):
        for item in data:
            yield from _class_paths(item, where)


def _check_module(where: str, class_path: str, source: str) -> None:
    module = class_path.strip().rpartition(".")[0].partition(".")[0]
    if module in STANDARD_LIBRARY:  # a bare name (AdamW, ddp) is one jsonargparse or Lightning looks up itself
        kinds = CLASS_PLACES.get(where, ((nn.Module, Optimizer, Logger, Callback), ""))[0]
        raise ConfigError(
            f"--{where}{source} names {class_path.strip()}, which is in Python's standard library: it holds no "
            f"{_kinds_named(kinds)}, so nothing of it was imported. A config names the class to build; give one of "
            "torch's, Lightning's, lit_rnn's or your own."
        )


def known_logger(class_path: Any) -> type | None:
    """The logger class a file read by a command names, if it is one this project continues; nothing is imported."""
    return KNOWN_LOGGERS.get(class_path) if isinstance(class_path, str) else None
