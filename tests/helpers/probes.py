"""Test-only callbacks, passed to the real command line with ``--trainer.callbacks+=helpers.probes.NAME``."""

import hashlib
from pathlib import Path

import lightning as L


class RecordTrainingImages(L.Callback):
    """Writes a digest of every training image each process trains on, one file per rank and epoch.

    Args:
        out_dir: Folder for the ``rank{R}-epoch{E}.txt`` files.
    """

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)
        self.digests: list[str] = []

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        images, _ = batch
        self.digests += [image_digest(image) for image in images]

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / f"rank{trainer.global_rank}-epoch{trainer.current_epoch}.txt").write_text(
            "\n".join(self.digests)
        )
        self.digests = []


def image_digest(image) -> str:
    return hashlib.sha1((image * 255).round().byte().cpu().numpy().tobytes()).hexdigest()


class DiskFullAfterStep(L.Callback):
    """From training step ``step`` on, every checkpoint write fills the disk halfway through.

    Args:
        step: The first step whose checkpoint writes fail.
    """

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step == self.step:
            import errno
            import os

            from lit_rnn.runs import checkpointing

            write_atomically = checkpointing.write_atomically

            def write_until_the_disk_is_full(path, write):
                def fill(handle):
                    handle.write(b"PK\x03\x04" + bytes(1000))
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

                write_atomically(path, fill)

            checkpointing.write_atomically = write_until_the_disk_is_full


class PauseAt(L.Callback):
    """Holds training still at step ``step`` for ``seconds``, after creating ``flag``: a run caught in the middle.

    Args:
        step: The global step at which to pause.
        seconds: How long.
        flag: File created when the pause begins.
    """

    def __init__(self, step: int, seconds: float, flag: str) -> None:
        self.step, self.seconds, self.flag = step, seconds, Path(flag)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step == self.step and not self.flag.exists():
            import time

            self.flag.touch()
            time.sleep(self.seconds)


def record_call(path: str) -> int:
    """A function, not a class: writes ``path`` when it is called, to show that a config naming it never got it called."""
    Path(path).write_text("called")
    return 0


class CountBatches(L.Callback):
    """Writes, per rank, how many batches and images each stage ran (the sanity check apart), and the optimizer steps
    taken, as ``rank{R}.json``.

    Args:
        out_dir: Folder for the files.
    """

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)
        self.counts = {
            f"{stage}_{unit}": 0 for stage in ("train", "sanity", "val", "test") for unit in ("batches", "images")
        }
        self.counts["steps"] = 0

    def _count(self, stage: str, batch) -> None:
        self.counts[f"{stage}_batches"] += 1
        self.counts[f"{stage}_images"] += len(batch[0])
        self._write()

    def _write(self) -> None:
        import json

        import torch.distributed as dist

        rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / f"rank{rank}.json").write_text(json.dumps(self.counts))

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        self._count("train", batch)

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._count("sanity" if trainer.sanity_checking else "val", batch)

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._count("test", batch)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.counts["steps"] = trainer.global_step
        self._write()


class FailInProcess(L.Callback):
    """Raises in process ``rank`` alone, as training step ``step`` starts: a mistake of the user's, or a bug.

    Args:
        rank: The process (global rank) that fails.
        step: The global step at which it fails.
        bug: Raise an error no check foresaw (a RuntimeError) instead of a ``UserError``.
    """

    def __init__(self, rank: int, step: int = 2, bug: bool = False) -> None:
        self.rank, self.step, self.bug = rank, step, bug

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_rank == self.rank and trainer.global_step == self.step:
            from lit_rnn.base.errors import UserError

            raise (RuntimeError if self.bug else UserError)(f"Planted in process {self.rank} at step {self.step}.")
