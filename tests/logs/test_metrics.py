"""The one list of metrics (``lit_rnn.logs.metrics``): what a run logs is what its components declare, and monitors and
sweep objectives are checked against that list."""

import pytest

from lit_rnn.base.errors import ConfigError
from lit_rnn.logs import metrics
from lit_rnn.runs import results
from lit_rnn.study.settings import SweepSettings


def test_a_run_logs_what_its_model_and_callbacks_declare_and_nothing_else(tiny_run):
    logged = set(results.read(tiny_run / "lightning_logs" / "version_0")["metrics"])
    declared = {name for name, metric in metrics.METRICS.items() if metrics.logged_by(name).__name__ != "TimeToTarget"}
    # Lightning adds the epoch to every logger's metrics; its LearningRateMonitor, the learning rate, under the
    # optimizer's name (lr-Adam): neither is a result to rank runs or checkpoints by.
    assert {name for name in logged if name != "epoch" and not name.startswith("lr-")} == declared


@pytest.mark.parametrize("objective", ["val_per_digit/acc_3", "test_per_digit/acc_9", "val/seconds_to_target"])
def test_any_declared_metric_is_a_sweep_objective(objective, tmp_path):
    settings = SweepSettings(
        {"model.label_smoothing": [0.0]}, objective=objective, sampler="grid", folder=str(tmp_path)
    )
    assert settings.objective == objective


def test_an_undeclared_objective_is_refused_listing_the_metrics_in_a_line(tmp_path):
    with pytest.raises(ConfigError) as refused:
        SweepSettings({"model.label_smoothing": [0.0]}, objective="val/accuracy", sampler="grid", folder=str(tmp_path))
    message = str(refused.value)
    assert message.startswith("--sweep.objective is 'val/accuracy', but it must be a metric a run logs: train/loss, ")
    assert "val_per_digit/acc_N, test_per_digit/acc_N" in message and "acc_3" not in message


def test_only_metrics_logged_at_every_validation_may_be_monitored():
    assert {"val/acc", "train/loss", "val_per_digit/acc_0", "val/seconds_to_target"} <= set(metrics.MONITORABLE)
    assert not {"test/acc", "test_per_digit/acc_0"} & set(metrics.MONITORABLE)
