"""``python -m lit_rnn.fit``: train, test the best checkpoint, and say where the run's logs are."""

if __name__ == "__main__":  # before the imports below, which take seconds: a signal at any moment ends cleanly
    from lit_rnn.base.command_start import start_command

    start_command()

import time
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_only

from lit_rnn.base import interrupts
from lit_rnn.base.errors import exits_cleanly_on_user_error
from lit_rnn.base.quick_exit import run_then_exit
from lit_rnn.cli.lightning_cli import LitRNNCLI
from lit_rnn.cli.refused_settings import settings_refused_by_lightning
from lit_rnn.runs import folders as runs
from lit_rnn.runs import results as run_results
from lit_rnn.runs.logger_runs import viewers
from lit_rnn.runs.recovery import after_training, run_checkpoint


@exits_cleanly_on_user_error
def main(args: list[str] | None = None) -> dict[str, float]:
    """Run fit then test; returns the test metrics."""
    with runs.given_back_on_failure():  # a new run that fails before it saved anything leaves no folder behind
        cli = LitRNNCLI(args=args)
        trainer, model, data = cli.trainer, cli.model, cli.datamodule
        interrupts.set_phase(
            "before training began: nothing was trained yet. Run the same command again.", trainer.is_global_zero
        )
        start = time.perf_counter()
        with settings_refused_by_lightning():
            trainer.fit(model, data, ckpt_path=cli.config.ckpt_path)
    train_seconds = time.perf_counter() - start
    _record(cli.run, trainer.callback_metrics, train_seconds=train_seconds)
    interrupts.set_phase(after_training(trainer), trainer.is_global_zero)
    checkpoints = run_checkpoint(trainer)
    best = checkpoints.best_checkpoint() if checkpoints is not None else None
    (metrics,) = trainer.test(model, data, ckpt_path=best)
    images, labels = next(iter(data.test_dataloader()))
    # Outside Lightning's loops the batch is cast as they cast it, to the weights' dtype in 64-true and bf16-true.
    predictions = model(trainer.precision_plugin.convert_input(images[:10].to(model.device))).argmax(dim=1)
    _record(cli.run, metrics)
    interrupts.set_phase(f"after the test: the run is complete in {cli.run}.", trainer.is_global_zero)
    weights = f"best checkpoint, {_as_given(best)}" if best else "the final weights: the run saved no best checkpoint"
    hints = viewers(trainer.loggers, cli.run, cli.plan.root) if cli.run is not None else []
    tested = data.images_in("test", trainer.num_test_batches[0])
    _report(
        metrics,
        tested,
        len(data.splits["test"][1]),
        data.dataset.title,
        train_seconds,
        predictions.tolist(),
        labels[:10].tolist(),
        weights,
        cli.run,
        hints,
    )
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()  # else gloo's threads can abort the processes as they exit
    return metrics


def _as_given(path: Path) -> Path:
    """``path`` relative to the working folder when it is inside it (Lightning makes checkpoint paths absolute)."""
    return path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path


@rank_zero_only
def _record(run: Path | None, metrics: dict[str, Any], **facts: float) -> None:
    """The run's results file (``run_results``), for the commands that compare runs; a fast_dev_run has no run."""
    if run is not None:
        run_results.record(run, metrics, **facts)


@rank_zero_only
def _report(
    metrics: dict[str, float],
    tested: int,
    test_size: int,
    dataset: str,
    train_seconds: float,
    predictions: list[int],
    labels: list[int],
    weights: str,
    run: Path | None,
    hints: list[str],
) -> None:
    share = "the" if tested == test_size else f"{tested:,} of the"  # fewer with --trainer.limit_test_batches
    print(f"\nTest accuracy on {share} {test_size:,} {dataset} test images: {metrics['test/acc']:.4f} ({weights})")
    print(f"Training took {train_seconds:.1f} s.")
    print(predictions, "prediction number")
    print(labels, "real number")
    print(f"Logs and checkpoints: {run}" if run else "fast_dev_run: nothing was saved.")
    if hints:
        print(f"View them: {'; '.join(hints)}")


if __name__ == "__main__":
    run_then_exit(main)
