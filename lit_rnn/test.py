"""``python -m lit_rnn.test``: evaluate a trained checkpoint without training, on MNIST's test images or on its run's
validation split, and log the results into its run at the step it was saved.

The numbers are the ones ``fit`` computes: the same ``MNISTClassifier`` and ``MNISTDataModule``, built with the
settings the checkpoint saved (the batches of the run's ``eval_batch_size``, its validation split), evaluated by
Lightning's ``Trainer.test`` at the precision the run's config trained at.
"""

if __name__ == "__main__":  # before the imports below, which take seconds: a signal at any moment ends cleanly
    from lit_rnn.base.command_start import start_command

    start_command()

import argparse
from pathlib import Path
from typing import Any

import lightning as L

from lit_rnn.base import interrupts
from lit_rnn.base.errors import ConfigError, exits_cleanly_on_user_error
from lit_rnn.base.private_apis import log_as_of
from lit_rnn.base.quick_exit import run_then_exit
from lit_rnn.cli.precision import AutoPrecisionTrainer, to_evaluate
from lit_rnn.cli.refused_settings import settings_refused_by_lightning
from lit_rnn.data.datamodule import MNISTDataModule
from lit_rnn.logs.log_figures import LogFigures
from lit_rnn.model.classifier import MNISTClassifier
from lit_rnn.runs import folders as runs
from lit_rnn.runs.checkpointing import CheckpointError
from lit_rnn.runs.logger_runs import loggers_of_run, viewers
from lit_rnn.trained.command_line import trained_model_command
from lit_rnn.trained.evaluation import Evaluation, evaluation, to_json, to_text
from lit_rnn.trained.loading import NOT_OURS, TrainedNetwork, find_checkpoint, load_network


def parser() -> argparse.ArgumentParser:
    parser = trained_model_command(
        "test",
        "Evaluate a model that python -m lit_rnn.fit trained, without training it: the accuracy, the loss, "
        "the accuracy on each digit and the confusion matrix, also logged into its run's own logs.",
        "to evaluate on",
    )
    parser.add_argument(
        "--split",
        choices=["test", "val"],
        default="test",
        help="test: MNIST's 10,000 test images (default); val: the run's own validation split.",
    )
    parser.add_argument(
        "--format",
        choices=["text", "json"],
        default="text",
        help="text: the results and a table; json: one JSON object for scripts.",
    )
    return parser


def classifier(trained: TrainedNetwork) -> MNISTClassifier:
    """The LightningModule that fit evaluated, as the checkpoint saved it."""
    model = trained.model
    # The weights load_network checked, and the run's best validation accuracy so far (which a validation logs again).
    model.load_state_dict(trained.checkpoint["state_dict"], strict=False)
    return model


def data_module(trained: TrainedNetwork, data_dir: str | None) -> MNISTDataModule:
    """The data as the run had it: its validation split and evaluation batches; its data folder unless ``data_dir``."""
    settings = {**trained.data_settings, **({"data_dir": data_dir} if data_dir else {})}
    try:
        return MNISTDataModule(**settings)
    except ConfigError as error:
        if data_dir is not None and error.problem.startswith("--data.data_dir"):
            raise
        raise CheckpointError(
            trained.path, f"holds data settings that cannot be used ({error.problem})", NOT_OURS
        ) from None
    except TypeError as error:  # a setting this project's data module does not have
        raise CheckpointError(trained.path, f"holds data settings of another kind ({error})", NOT_OURS) from None


def run_precision(run: Path | None, settings: dict[str, Any]) -> str | int | None:
    """The precision to evaluate at: the one the run trained and tested at (the same precision gives the same numbers
    as fit's own test), from its settings; None (Lightning's default, 32-bit floats) where they name none.

    Raises:
        ConfigError: naming the run's config.yaml and the key, for a value that is no precision.
    """
    try:
        return to_evaluate(settings.get("trainer", {}).get("precision"), "auto")
    except ConfigError as refused:
        raise runs.setting_refused(run, refused) from None


def _where_logged(trainer: L.Trainer, trained: TrainedNetwork, step: int) -> str:
    if trained.run is None:
        return f"Not logged: {trained.path} is not in a run's checkpoints folder."
    if not trainer.loggers:
        return (
            f"Not logged: the run {trained.run} holds no logs of a kind this command continues (TensorBoard, CSV, "
            "MLflow): it was fitted without a logger, or with another kind."
        )
    return f"Logged at step {step} into {trained.run}: {'; '.join(viewers(trainer.loggers, trained.run, trained.run.parent))}"


@exits_cleanly_on_user_error
def main(args: list[str] | None = None) -> Evaluation:
    """Evaluate the checkpoint, log the results into its run, print them; returns them."""
    options = parser().parse_args(args)
    trained = load_network(find_checkpoint(options.ckpt_path), options.allow_module)
    model, data, figures = classifier(trained), data_module(trained, options.data_dir), LogFigures()
    settings = runs.run_config(trained.run) if trained.run is not None else {}
    with runs.owned(trained.run, then="test it"):  # it logs into the run: never while the run's own fit writes there
        with settings_refused_by_lightning():
            trainer = AutoPrecisionTrainer(
                devices=1,
                precision=run_precision(trained.run, settings),
                logger=loggers_of_run(trained.run, settings) if trained.run else False,
                callbacks=[figures],
                enable_checkpointing=False,
                enable_progress_bar=False,
                enable_model_summary=False,
            )
        log_as_of(trainer, trained.checkpoint)
        interrupts.set_phase(f"during the evaluation of {trained.path}, which is unchanged. Run the command again.")
        evaluate = trainer.test if options.split == "test" else trainer.validate
        (metrics,) = evaluate(model, data, verbose=False)
    result = evaluation(
        metrics,
        figures.confusion_matrix,
        checkpoint=str(trained.path),
        split=options.split,
        dataset=data.dataset.title,
        class_names=list(data.dataset.class_names),
        epoch=trained.checkpoint["epoch"],
        step=trained.checkpoint["global_step"],
        logged_to=str(trained.run) if trained.run is not None else None,
    )
    if options.format == "json":
        print(to_json(result))
    else:
        print(to_text(result))
        print(_where_logged(trainer, trained, result.step))
    return result


if __name__ == "__main__":
    run_then_exit(main)
