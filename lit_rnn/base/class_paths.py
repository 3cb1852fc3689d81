"""Classes named by ``class_path``: of the kind their place expects, checked before anything is built or called.

LightningCLI builds whatever a ``class_path`` names. For the optimizer and the schedule, whose type is "a callable
that returns one", jsonargparse also accepts a plain function, which it then *calls* with the ``init_args``: a config
naming ``os.system`` would run a command. jsonargparse checks the other places (loggers, callbacks) against their
base class itself. A file that a command reads by itself (a run's ``config.yaml``) is not the user's own command: the
classes it names are looked up among known ones by name, and nothing it names is imported.
"""

import importlib
import inspect
from typing import Any

from jsonargparse import Namespace
from lightning.pytorch.loggers import CSVLogger, MLFlowLogger, TensorBoardLogger
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from lit_rnn.base.errors import ConfigError

# Where a config names a class to call, and the kind it must be: (key, base classes, an example for the message).
CALLED_CLASSES = (
    ("model.optimizer", (Optimizer,), "torch.optim.AdamW"),
    ("model.scheduler", (LRScheduler, ReduceLROnPlateau), "torch.optim.lr_scheduler.OneCycleLR"),
)
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


def check_called_classes(config: Namespace) -> None:
    """Refuse an optimizer or a schedule that is not a class of its kind, before jsonargparse would call it.

    Raises:
        ConfigError: naming the key, what it names, and the kind it must be.
    """
    for key, kinds, example in CALLED_CLASSES:
        given = config.get(key)
        class_path = given.get("class_path") if isinstance(given, Namespace) else None
        if class_path is None:
            continue
        named = imported(class_path)
        if not (inspect.isclass(named) and issubclass(named, kinds)):
            what = " or ".join(f"{kind.__module__}.{kind.__name__}" for kind in kinds)
            problem = f"--{key} is {class_path}, which is not a subclass of {what}"
            raise ConfigError(
                f"{problem}: a config names the class to build, never a function to call. Give a "
                f"class such as {example}.",
                problem,
            )


def known_logger(class_path: Any) -> type | None:
    """The logger class a file read by a command names, if it is one this project continues; nothing is imported."""
    return KNOWN_LOGGERS.get(class_path) if isinstance(class_path, str) else None
