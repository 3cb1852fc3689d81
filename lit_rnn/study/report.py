"""What a sweep shows: a line per finished trial, the table of trials, the spread over seeds of each setting, the
best trial's config file, and Optuna's own plots of the study, saved beside it and logged to TensorBoard; or, when
no trial of the study completed, an error."""

import statistics
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import matplotlib
import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState
from torch.utils.tensorboard import SummaryWriter

from lit_rnn.base.errors import UserError

SEED_KEY = "seed_everything"


def trial_line(study: optuna.Study, trial: FrozenTrial, objective: str) -> str:
    settings = " ".join(f"{key}={value}" for key, value in trial.params.items())
    result = f"{objective} {trial.value:.4f}" if trial.value is not None else trial.user_attrs.get("error", "")
    took = trial.user_attrs.get("train_seconds")
    try:
        best = f"best so far: trial {study.best_trial.number} ({study.best_value:.4f})"
    except ValueError:  # no trial has completed yet
        best = "no trial complete yet"
    return (
        f"trial {trial.number}: {settings}: {result} ({trial.state.name.lower()}"
        f"{f', {took:.1f} s' if took else ''}); {best}"
    )


def report(
    study: optuna.Study,
    folder: Path,
    objective: str,
    space: Mapping[str, Any],
    config_of: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    """The table of trials, the mean and spread over seeds of each setting, the plots, and the best trial's config
    (``config_of`` its settings)."""
    trials = sorted(study.get_trials(deepcopy=False), key=lambda trial: trial.number)
    print(f"\n{len(trials)} trials in {folder}:")
    for trial in trials:
        print("  " + trial_line(study, trial, objective).split("; best so far")[0])
    complete = [trial for trial in trials if trial.state == TrialState.COMPLETE]
    if SEED_KEY in space and complete:
        print_cells(complete)
    if complete:
        plot(study, folder)
    try:
        best = study.best_trial
    except ValueError:
        check_some_trial_completed(trials, folder)
        print("No trial completed yet: other workers are still running trials.")
        return
    best_file = folder / "best.yaml"
    best_file.write_text(yaml.safe_dump(config_of(best.params), sort_keys=False))
    print(
        f"Best: trial {best.number}, {objective} {best.value:.4f} ({best.params}). Its config: {best_file}; "
        f"run it again with python -m lit_rnn.fit --config {best_file}"
    )


class NoTrialCompleted(UserError):
    """Every trial of the study failed or was pruned: there is no result, and the sweep must not look a success."""

    exit_code = 1


def check_some_trial_completed(trials: list[FrozenTrial], folder: Path) -> None:
    """Raise ``NoTrialCompleted``, with the first failure's reason, when the study is over and none of its trials
    completed; while another worker still runs a trial, the study may yet have a result."""
    if any(trial.state in (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING) for trial in trials):
        return
    failed = [trial for trial in trials if trial.state == TrialState.FAIL]
    if not failed:
        why = trials[0].user_attrs.get("error")
        raise NoTrialCompleted(
            f"No trial of the study in {folder} completed: the pruner stopped all {len(trials)}"
            f"{f' (the first: {why})' if why else ''}. Run the sweep again with a new --sweep.study_name, and a "
            "pruner that waits longer (--sweep.pruner null), or, for a time-to-target objective, a target the "
            "trials can reach (a lower TimeToTarget target, more --trainer.max_epochs or --trainer.max_time)."
        )
    raise NoTrialCompleted(
        f"No trial of the study in {folder} completed: {len(failed)} of {len(trials)} failed, the others were "
        f"pruned. The first failure, trial {failed[0].number}: {failed[0].user_attrs.get('error', 'no reason given')}"
        f" (its messages: {folder / f'trial_{failed[0].number}' / 'fit.log'}). Fix what failed, then run the sweep "
        "again with a new --sweep.study_name."
    )


def print_cells(trials: list[FrozenTrial]) -> None:
    """One line per setting of everything but the seed: test accuracy's mean and standard deviation over the seeds."""
    cells: dict[str, list[FrozenTrial]] = {}
    for trial in trials:
        key = " ".join(f"{name}={value}" for name, value in trial.params.items() if name != SEED_KEY)
        cells.setdefault(key, []).append(trial)
    print("\nPer setting, over the seeds:")
    for key, members in cells.items():
        accuracies = [trial.user_attrs["test/acc"] for trial in members if trial.user_attrs.get("test/acc") is not None]
        seconds = [trial.user_attrs["train_seconds"] for trial in members if trial.user_attrs.get("train_seconds")]
        spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
        print(
            f"  {key}: test/acc {statistics.mean(accuracies):.4f} ± {spread:.4f} over {len(accuracies)} "
            f"seed{'s' if len(accuracies) > 1 else ''}, "
            f"training {statistics.mean(seconds):.1f} s on average"
        )


PLOTS = {
    "optimization_history": optuna.visualization.matplotlib.plot_optimization_history,
    "param_importances": optuna.visualization.matplotlib.plot_param_importances,
}


def plot(study: optuna.Study, folder: Path) -> None:
    """Optuna's plots of the study as PNG files in ``folder`` and images in its TensorBoard run ``folder/summary``.

    A plot that the study cannot have yet (the importances need two settings that vary, and completed trials
    that differ) is left out, saying why.
    """
    matplotlib.use("Agg")  # files only: no window
    from matplotlib import pyplot

    writer, saved = SummaryWriter(str(folder / "summary")), []
    for name, draw in PLOTS.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                axes = draw(study)
        except (ValueError, RuntimeError, ZeroDivisionError) as error:
            print(f"No {name.replace('_', ' ')} plot: {error}")
            continue
        figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
        figure.set_size_inches(8, 5)
        figure.tight_layout()
        figure.savefig(folder / f"{name}.png", dpi=100)
        writer.add_figure(f"sweep/{name}", figure, global_step=len(study.trials))
        pyplot.close(figure)
        saved.append(str(folder / f"{name}.png"))
    writer.close()
    if saved:
        print(f"Plots: {', '.join(saved)}; in TensorBoard's IMAGES too: tensorboard --logdir {folder}")
