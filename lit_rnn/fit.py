"""``python -m lit_rnn.fit``: train, test the best checkpoint, and say where the run's logs are."""

import time

from lightning.pytorch.utilities import rank_zero_only

from lit_rnn.cli import LOG_ROOT, LitRNNCLI
from lit_rnn.errors import exits_cleanly_on_user_error


@exits_cleanly_on_user_error
def main(args: list[str] | None = None) -> dict[str, float]:
    """Run fit then test; returns the test metrics."""
    cli = LitRNNCLI(args=args)
    trainer, model, data = cli.trainer, cli.model, cli.datamodule
    start = time.perf_counter()
    trainer.fit(model, data, ckpt_path=cli.config.ckpt_path)
    train_seconds = time.perf_counter() - start
    (metrics,) = trainer.test(model, data, ckpt_path="best")
    images, labels = next(iter(data.test_dataloader()))
    predictions = model(images[:10].to(model.device)).argmax(dim=1)
    _report(trainer, metrics, train_seconds, predictions.tolist(), labels[:10].tolist())
    return metrics


@rank_zero_only
def _report(trainer, metrics: dict[str, float], train_seconds: float, predictions: list[int], labels: list[int]) -> None:
    best = trainer.checkpoint_callback.best_model_path
    print(f"\nTest accuracy on the {len(trainer.datamodule.splits['test'][1]):,} MNIST test images: "
          f"{metrics['test/acc']:.4f} (best checkpoint, {best})")
    print(f"Training took {train_seconds:.1f} s.")
    print(predictions, "prediction number")
    print(labels, "real number")
    print(f"Logs and checkpoints: {trainer.log_dir}")
    print(f"View them: tensorboard --logdir {LOG_ROOT}")


if __name__ == "__main__":
    main()
