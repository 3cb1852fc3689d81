"""How checkpoints are written and read: atomically, safely, and with the random generators' state.

Lightning stages a checkpoint in the system temp folder before moving it (not atomic across filesystems,
and a kill mid-write can leave a truncated file), loads it with full unpickling, and does not save the
random generators, so a resumed run draws different dropout masks than the uninterrupted one would have.
"""

import io
import os
import random
import re
import secrets
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import lightning as L
import numpy as np
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint

from lit_rnn.base.errors import UserError, summarize
from lit_rnn.base.private_apis import rebase_model_checkpoint_state
from lit_rnn.runs.old_runs import upgrade_checkpoint

PARTIAL_SUFFIX = ".partial"
"""Suffix of a checkpoint still being written; such a file is left behind only by a process killed mid-write."""

ZIP_MAGIC = b"PK\x03\x04"  # how a checkpoint file starts (PyTorch saves a zip archive)
TRAINING_STATE_KEYS = ("state_dict", "loops", "optimizer_states", "lr_schedulers", "callbacks")


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# What each entry that the commands read must be, as Lightning writes it: (key, test, what it must be).
BOOKKEEPING = (
    ("epoch", _count, "a whole number of epochs, 0 or more"),
    ("global_step", _count, "a whole number of steps, 0 or more"),
    ("state_dict", lambda value: isinstance(value, dict), "a mapping of weights"),
    (
        "loops",
        lambda value: isinstance(value, dict) and isinstance(value.get("fit_loop"), dict),
        "a mapping holding the fit loop's progress",
    ),
    ("optimizer_states", lambda value: isinstance(value, list), "a list"),
    ("lr_schedulers", lambda value: isinstance(value, list), "a list"),
    ("callbacks", lambda value: isinstance(value, dict), "a mapping"),
)


USE_ANOTHER = "Pass another checkpoint to --ckpt_path, or start a new run without it."


class CheckpointError(UserError):
    """A checkpoint is missing, unreadable, unsafe, or does not fit the model.

    Args:
        path: The checkpoint.
        problem: What is wrong with it, as the end of a sentence starting with its path.
        advice: How to go on.
    """

    def __init__(self, path: str | Path, problem: str, advice: str = USE_ANOTHER) -> None:
        super().__init__(f"The checkpoint {path} {problem}. {advice}")
        self.path, self.problem = Path(path), problem


def write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` through a temporary file in its own folder, flushed to disk and renamed over it.

    A kill at any moment leaves either the old file or the new one, complete; only a hidden
    ``.NAME.*.partial`` file can remain beside it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.parent / f".{path.name}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}"
    # os.open honours the umask, so the checkpoint gets the permissions of any other new file.
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException as error:
        partial.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename is None:
            error.filename = str(path)  # a write through a handle does not say which file it was
        raise
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable across a power loss (a no-op where folders cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def read_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a training checkpoint without unpickling anything but tensors and plain data; one an older lit_rnn wrote
    is read as today's (``old_runs``).

    Raises:
        CheckpointError: naming the file and what is wrong with it.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(
            path,
            "is a folder, not a checkpoint file",
            "Give --ckpt_path a .ckpt file, such as one in a run's checkpoints/ folder.",
        )
    if not path.is_file():
        problem = "is not a regular file" if os.path.lexists(path) else "does not exist"
        raise CheckpointError(path, problem, "Check the path given to --ckpt_path: it must be a .ckpt file.")
    if path.stat().st_size == 0:
        raise CheckpointError(path, "is empty (0 bytes): its write was cut off")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # a damaged file makes torch.load fail in many ways
        raise CheckpointError(path, _why_unreadable(path, error)) from None
    missing = [key for key in TRAINING_STATE_KEYS if not isinstance(checkpoint, dict) or key not in checkpoint]
    if missing:
        raise CheckpointError(
            path,
            f"is not a lit_rnn training checkpoint: it lacks {', '.join(missing)}, without which training cannot go on",
        )
    for key, holds, what in BOOKKEEPING:
        if not holds(checkpoint.get(key)):
            raise CheckpointError(
                path,
                f"is not as Lightning writes a checkpoint: its {key} is {_shown(checkpoint.get(key))}, "
                f"but it must be {what}",
            )
    return upgrade_checkpoint(checkpoint)


def _shown(value: Any) -> str:
    """A value from a file, quoted short enough for a one-line message."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _why_unreadable(path: Path, error: Exception) -> str:
    refused = (
        "was refused: it holds Python objects ({}) that could run code when loaded, and only tensors and plain data "
        "are loaded"
    )
    if zipfile.is_zipfile(path):
        try:
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        except Exception as unreadable:  # a damaged pickle, or a zip archive of another kind
            with zipfile.ZipFile(path) as archive:
                if any(name.endswith("/data.pkl") for name in archive.namelist()):
                    return f"is corrupt ({summarize(unreadable)})"
            return "is not a PyTorch checkpoint: it is a zip archive of another kind"
        return refused.format(", ".join(unsafe)) if unsafe else f"is corrupt ({summarize(error)})"
    with path.open("rb") as handle:
        if handle.read(4) == ZIP_MAGIC:
            return "is truncated: its write was cut off"
    unsafe_global = re.search(r"unsupported (?:global: )?GLOBAL (\S+)", str(error), re.IGNORECASE)
    if unsafe_global:  # the legacy, non-zip format
        return refused.format(unsafe_global.group(1))
    return "is not a PyTorch checkpoint file"


def check_fits(checkpoint: dict[str, Any], path: str | Path, model: torch.nn.Module) -> None:
    """Refuse a checkpoint whose weights do not have the model's names and shapes (another architecture).

    Raises:
        CheckpointError: naming the first mismatching weight.
    """
    saved, expected = checkpoint["state_dict"], model.state_dict()
    problems = [f"{name} is missing" for name in expected if name not in saved]
    problems += [f"{name} is not in this model" for name in saved if name not in expected]
    problems += [
        f"{name} has shape {list(saved[name].shape)} there but {list(tensor.shape)} here"
        for name, tensor in expected.items()
        if name in saved and saved[name].shape != tensor.shape
    ]
    if problems:
        shown = "; ".join(problems[:2]) + (f" (and {len(problems) - 2} more)" if len(problems) > 2 else "")
        raise CheckpointError(
            path,
            f"was saved from a different model: {shown}",
            "Resume with the config it was trained with (its run folder holds it as config.yaml), or start a new run.",
        )


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes checkpoints atomically beside their final path and reads them with ``weights_only=True``.

    Args:
        already_read: The checkpoint a resume starts from, as the resume plan read and checked it, with its path:
            Lightning gets that very dict when it loads the path, instead of reading the file a second time.
    """

    def __init__(self, already_read: tuple[Path, dict[str, Any]] | None = None) -> None:
        super().__init__()
        self._already_read = already_read

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options.")
        # Serialized in memory first: torch's writer turns a failed disk write into "unexpected pos", without the
        # reason; a plain write of the bytes fails with the system's own (a full disk, a file-size limit).
        serialized = io.BytesIO()
        torch.save(checkpoint, serialized)
        write_atomically(Path(path), lambda handle: handle.write(serialized.getbuffer()))

    def load_checkpoint(
        self, path: str | Path, map_location: Any = "cpu", weights_only: bool | None = None
    ) -> dict[str, Any]:
        if self._already_read is not None and Path(path).resolve() == self._already_read[0].resolve():
            checkpoint, self._already_read = self._already_read[1], None  # handed over once: its memory goes with it
            return checkpoint
        return read_checkpoint(path, map_location)


class RunCheckpoint(ModelCheckpoint):
    """Lightning's ``ModelCheckpoint`` (best and last) for a run folder that may have moved since it was saved.

    Lightning keeps the paths of the best checkpoints as they were written (relative to the folder the command
    started in), and on resume trusts ``best_model_path`` even when the folder is elsewhere: the final test then
    loads another run's file of the same name, or none. Here every saved path is taken as a name in this run's own
    checkpoint folder, and forgotten if no such file is there.
    """

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        with warnings.catch_warnings():  # a resumed run's folder is not empty: that is the point
            warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
            super().setup(trainer, pl_module, stage)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if (
            not trainer.fast_dev_run
        ):  # Lightning 2.6 saves last.ckpt here even in a fast_dev_run, into the working folder
            super().on_train_end(trainer, pl_module)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        here = Path(self.dirpath)

        def rebased(path: str) -> str:
            return str(here / Path(path).name) if path and (here / Path(path).name).is_file() else ""

        super().load_state_dict(rebase_model_checkpoint_state(state_dict, self.dirpath, rebased))
        # Lightning saves last.ckpt as training ends when this process saved none (a run resumed after its last save):
        # the run saved it before it stopped, so the resumed run keeps it, as the run never stopped does.
        self._last_checkpoint_saved = self.last_model_path

    def best_checkpoint(self) -> Path | None:
        """The best checkpoint of this run, if it has one (none before a validation, or with ``save_top_k 0``)."""
        return Path(self.best_model_path) if self.best_model_path and Path(self.best_model_path).is_file() else None


class RandomState(L.Callback):
    """Saves the random generators (torch, CUDA, Python, NumPy) in every checkpoint and restores them on resume.

    They are restored when training starts, after the sanity check, so that the resumed run draws the same
    numbers (dropout masks, for one) from there on as the uninterrupted run did after its checkpoint.
    """

    def __init__(self) -> None:
        self._to_restore: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        numpy_name, keys, position, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
        state = {
            "torch": torch.get_rng_state(),
            "python": random.getstate(),
            # as plain values, so that the checkpoint loads with weights_only=True
            "numpy": (numpy_name, keys.tolist(), position, has_gauss, cached_gaussian),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._to_restore = state_dict

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        state, self._to_restore = self._to_restore, None
        if state is None:
            return
        torch.set_rng_state(state["torch"])
        random.setstate(state["python"])
        numpy_name, keys, position, has_gauss, cached_gaussian = state["numpy"]
        np.random.set_state((numpy_name, np.array(keys, dtype=np.uint32), position, has_gauss, cached_gaussian))
        if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])
