"""What every logger gets, whatever its kind: the pictures, and the settings beside the run's metrics.

Lightning's loggers share ``log_metrics`` and ``log_hyperparams`` but not pictures, so each kind gets them through its
own public API: TensorBoard as images of its IMAGES tab, MLflow as PNG artifacts of its run, and any other logger
that writes into a folder (CSV) as PNG files there; both as ``images/TAG/step_N.png``. The callbacks iterate
``trainer.loggers`` and call these, with no logger-specific code of their own.
"""

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch.loggers import Logger, MLFlowLogger, TensorBoardLogger
from PIL import Image
from torch.utils.tensorboard.summary import hparams
from torch.utils.tensorboard.writer import FileWriter

from lit_rnn.base.private_apis import flat_settings

IMAGES = "images"


def write_hparams(logger: TensorBoardLogger, settings: dict[str, Any], metrics: Iterable[str]) -> None:
    """Write TensorBoard's HPARAMS entry: ``settings`` flattened as Lightning flattens them, next to ``metrics``.

    ``TensorBoardLogger.log_hyperparams`` would also log each metric at step 0 with a placeholder value, a point
    that does not exist on every curve; so the summary is written as it writes it, without that, into an event file of
    its own in the run's folder (TensorBoard reads every event file there).
    """
    flat = {key: _hparam_value(value) for key, value in flat_settings(settings).items()}
    writer = FileWriter(logger.log_dir)
    for summary in hparams(flat, {name: 0.0 for name in metrics}):
        writer.add_summary(summary)
    writer.close()


def _hparam_value(value: Any) -> bool | int | float | str:
    """A setting as TensorBoard's HPARAMS holds it: a number, a truth value or text (``None`` and lists as text)."""
    return value if isinstance(value, (bool, int, float, str)) else str(value)


def as_pixels(picture: torch.Tensor) -> np.ndarray:
    """A (3, H, W) picture of floats in [0, 1] as the (H, W, 3) bytes of a PNG file."""
    return (picture.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def picture_file(log_dir: str | Path, tag: str, step: int) -> Path:
    """Where the picture ``tag`` of ``step`` is kept in a folder or in MLflow's artifacts: ``images/TAG/step_N.png``."""
    return Path(log_dir) / IMAGES / tag / f"step_{step}.png"


def log_picture(logger: Logger, tag: str, picture: torch.Tensor, step: int) -> None:
    """Log a (3, H, W) picture in [0, 1] under ``tag`` at ``step``, the way ``logger``'s viewer shows pictures."""
    if isinstance(logger, TensorBoardLogger):
        logger.experiment.add_image(tag, picture, step)
    elif isinstance(logger, MLFlowLogger):  # a picture logged again at its step (a resume) replaces the first
        logger.experiment.log_image(
            logger.run_id, as_pixels(picture), artifact_file=picture_file("", tag, step).as_posix()
        )
    elif logger.log_dir is not None:
        path = picture_file(logger.log_dir, tag, step)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(as_pixels(picture)).save(path)


def log_settings(logger: Logger, settings: dict[str, Any], metrics: Iterable[str]) -> None:
    """Log the run's settings so that the logger's viewer shows them beside ``metrics``.

    TensorBoard's HPARAMS tab shows only the metric columns its summary names; MLflow's runs table and a CSV run's
    ``hparams.yaml`` beside its ``metrics.csv`` show every logged metric, so they get the settings alone.
    """
    if isinstance(logger, TensorBoardLogger):
        write_hparams(logger, settings, metrics)
    else:
        logger.log_hyperparams(settings)
