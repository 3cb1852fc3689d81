"""Every metric a run may log, gathered from what each component declares it logs (``Metric``): the model's, and
each callback's. A monitor, a sweep objective and a column of TensorBoard's HPARAMS tab are checked against this one
list, so that a metric a component adds is known everywhere at once."""

import re
from collections.abc import Iterable

from lit_rnn.logs.log_figures import LogFigures
from lit_rnn.logs.time_to_target import TimeToTarget
from lit_rnn.model.classifier import MNISTClassifier

LOGGERS = {
    MNISTClassifier: MNISTClassifier.METRICS,
    LogFigures: LogFigures.metrics(),
    TimeToTarget: TimeToTarget.METRICS,
}
"""What logs each metric: the model on every run, its callbacks where a run has them (LogFigures always does)."""
METRICS = {metric.name: metric for metrics in LOGGERS.values() for metric in metrics}
MONITORABLE = tuple(name for name, metric in METRICS.items() if metric.monitorable)


def logged_by(name: str) -> type | None:
    """The class whose instances log the metric ``name``; None for a metric no run logs."""
    return next((owner for owner, metrics in LOGGERS.items() if any(m.name == name for m in metrics)), None)


def missing_loggers(names: Iterable[str], callbacks: Iterable[object]) -> dict[str, type]:
    """The metrics among ``names`` that a callback logs which is not among a run's ``callbacks``, with that class."""
    present = {type(callback) for callback in callbacks}
    owners = {name: logged_by(name) for name in names}
    return {
        name: owner
        for name, owner in owners.items()
        if owner is not None and owner is not MNISTClassifier and not any(issubclass(kind, owner) for kind in present)
    }


def listed(names: Iterable[str]) -> str:
    """``names`` for a message, each numbered series once: ``val_per_digit/acc_0`` to ``acc_9`` as ``..._acc_N``."""
    shown: list[str] = []
    for name in names:
        series = re.sub(r"_[0-9]+$", "_N", name)
        if series not in shown:
            shown.append(series)
    return ", ".join(shown)
