"""Where ``--ckpt_path`` resumes: which checkpoint, and the run folder that the resumed run goes on writing.

Left to Lightning, ``ckpt_path="last"`` looks in the new run's empty ``version_N``, warns and trains from
scratch; and a run resumed into its old folder shows in TensorBoard every step between its checkpoint and
the crash twice. Here the checkpoint is found and checked before anything is built, the logger is pointed
at the checkpoint's run folder, and TensorBoard drops the events logged after the checkpoint.
"""

import sys
import warnings
from pathlib import Path
from typing import Any

import lightning as L
from jsonargparse import Namespace
from lightning.pytorch.cli import SaveConfigCallback

from lit_rnn.checkpointing import PARTIAL_SUFFIX, CheckpointError, read_checkpoint
from lit_rnn.errors import UserError, check_config

RUN_PREFIX = "version_"


class NothingToResume(UserError):
    """``--ckpt_path last`` found no run, or no readable checkpoint in the newest run."""


def runs_root(logger: Any) -> Path | None:
    """The folder holding the logger's ``version_N`` run folders, from its config; None without a file logger."""
    init_args = getattr(logger, "init_args", None)
    if init_args is None or getattr(init_args, "save_dir", None) is None:
        return None
    return Path(init_args.save_dir) / (getattr(init_args, "name", None) or "")


def runs_newest_first(root: Path) -> list[Path]:
    """The ``version_N`` run folders under ``root``, highest N first."""
    runs = [path for path in root.glob(f"{RUN_PREFIX}*") if path.is_dir() and path.name[len(RUN_PREFIX):].isdigit()]
    return sorted(runs, key=lambda path: int(path.name[len(RUN_PREFIX):]), reverse=True)


def latest_run(root: Path) -> Path:
    """The run folder with the highest ``version_N``."""
    runs = runs_newest_first(root)
    if not runs:
        raise NothingToResume(f"--ckpt_path last found no run to resume: {root} holds no version_N folder. "
                              "Start a new run without --ckpt_path.")
    return runs[0]


def newest_valid_checkpoint(run: Path) -> tuple[Path, dict[str, Any]]:
    """The newest checkpoint of ``run`` that reads back whole, saying which newer ones were passed over."""
    folder = run / "checkpoints"
    candidates = sorted(folder.glob("*.ckpt"), key=lambda path: path.stat().st_mtime_ns, reverse=True)
    if not candidates:
        raise NothingToResume(
            f"--ckpt_path last found nothing to resume: {folder}, the newest run's, holds no checkpoint (the run "
            "stopped before training began). Start a new run without --ckpt_path, or pass an older run's checkpoint "
            "to --ckpt_path."
        )
    refused = []
    for path in candidates:
        try:
            checkpoint = read_checkpoint(path)
        except CheckpointError as error:
            refused.append(error)
            continue
        for error in refused:
            print(f"warning: {error.path} {error.problem}; resuming from {path}, the newest valid checkpoint.",
                  file=sys.stderr)
        return path, checkpoint
    raise NothingToResume(
        f"--ckpt_path last found no readable checkpoint in {folder}: "
        + "; ".join(f"{error.path.name} {error.problem}" for error in refused)
        + ". Start a new run without --ckpt_path."
    )


def resolve_resume(config: Namespace) -> dict[str, Any]:
    """Turn ``config.ckpt_path`` into a checked checkpoint file, and continue its run folder if it has one.

    The logger is given the checkpoint's ``version_N`` and TensorBoard's ``purge_step``, so that the events
    logged after the checkpoint by the interrupted run are dropped; unfinished writes left there are removed.

    Returns:
        The checkpoint, for checking that it fits the model once that is built.
    """
    if config.trainer.get("max_steps") not in (None, -1):
        print("warning: with --trainer.max_steps, Lightning 2.6 restores a run's step count and epoch ends "
              "inexactly, so the resumed run will not match an uninterrupted one bit for bit; bound the run with "
              "--trainer.max_epochs for exact resumes.", file=sys.stderr)
    logger, root = config.trainer.logger, runs_root(config.trainer.logger)
    if config.ckpt_path == "last":
        if root is None:
            raise NothingToResume("--ckpt_path last looks in the logger's run folders, but this run has no file "
                                  "logger. Pass the checkpoint's path to --ckpt_path.")
        path, checkpoint = newest_valid_checkpoint(latest_run(root))
    else:
        path = Path(config.ckpt_path)
        checkpoint = read_checkpoint(path)
    config.ckpt_path = str(path)
    epochs_done = checkpoint["loops"]["fit_loop"]["epoch_progress"]["current"]["completed"]
    max_epochs = config.trainer.get("max_epochs")
    check_config(max_epochs in (None, -1) or max_epochs >= epochs_done, "trainer.max_epochs", max_epochs,
                 f"at least {epochs_done}, the epochs {path} has already trained (more, to train on)")
    run = path.parent.parent
    if root is not None and path.parent.name == "checkpoints" and run.parent.resolve() == root.resolve():
        logger.init_args.version = run.name
        # ModelCheckpoint warns about a non-empty folder, which is what a resumed run's folder is.
        warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
        if "purge_step" in logger.init_args:
            # The first step the resumed run logs: every optimizer step logs one step further.
            logger.init_args.purge_step = checkpoint["global_step"]
        for partial in path.parent.glob(f".*{PARTIAL_SUFFIX}"):
            partial.unlink(missing_ok=True)  # under DDP every process tries
    return checkpoint


class KeepConfigWhenResuming(SaveConfigCallback):
    """Saves the run's ``config.yaml``, except into a resumed run's folder, where the original one is kept."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        resuming = self.config.get("ckpt_path") is not None
        if resuming and trainer.log_dir and (Path(trainer.log_dir) / self.config_filename).exists():
            return
        super().setup(trainer, pl_module, stage)
