"""``python -m lit_rnn.fit``: train, test the best checkpoint, and say where the run's logs are."""

import shutil
import time
from pathlib import Path

import torch
from lightning.pytorch.utilities import rank_zero_only

from lit_rnn.cli import LOG_ROOT, LitRNNCLI
from lit_rnn.errors import UserError, exits_cleanly_on_user_error


@exits_cleanly_on_user_error
def main(args: list[str] | None = None) -> dict[str, float]:
    """Run fit then test; returns the test metrics."""
    cli = LitRNNCLI(args=args)
    trainer, model, data = cli.trainer, cli.model, cli.datamodule
    start = time.perf_counter()
    try:
        trainer.fit(model, data, ckpt_path=cli.config.ckpt_path)
    except UserError:
        _remove_if_unused(Path(trainer.logger.log_dir))
        raise
    train_seconds = time.perf_counter() - start
    (metrics,) = trainer.test(model, data, ckpt_path="best")
    images, labels = next(iter(data.test_dataloader()))
    predictions = model(images[:10].to(model.device)).argmax(dim=1)
    log_dir = trainer.log_dir  # every process must ask: under DDP this is a collective call
    _report(metrics, len(data.splits["test"][1]), train_seconds, predictions.tolist(), labels[:10].tolist(),
            trainer.checkpoint_callback.best_model_path, log_dir)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()  # else gloo's threads can abort the processes as they exit
    return metrics


def _remove_if_unused(run: Path) -> None:
    """Remove the folder of a run that failed during set-up, holding only TensorBoard's first, empty event file.

    Left there, it would be the newest run, and ``--ckpt_path last`` would find nothing in it to resume.
    """
    if run.is_dir() and all(path.name.startswith("events.out.tfevents.") for path in run.iterdir()):
        shutil.rmtree(run, ignore_errors=True)


@rank_zero_only
def _report(metrics: dict[str, float], test_size: int, train_seconds: float, predictions: list[int],
            labels: list[int], best_checkpoint: str, log_dir: str) -> None:
    print(f"\nTest accuracy on the {test_size:,} MNIST test images: {metrics['test/acc']:.4f} "
          f"(best checkpoint, {best_checkpoint})")
    print(f"Training took {train_seconds:.1f} s.")
    print(predictions, "prediction number")
    print(labels, "real number")
    print(f"Logs and checkpoints: {log_dir}")
    print(f"View them: tensorboard --logdir {LOG_ROOT}")


if __name__ == "__main__":
    main()
