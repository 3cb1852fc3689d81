"""``python -m lit_rnn.fit`` end to end on tiny data: output, logs, checkpoints, and a second run beside the first."""

import re

import pytest
from helpers.commands import checkpoint_accuracy, reported_accuracy, run_module, snapshot, tiny_fit_args
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from lit_rnn.runs import results as run_results

SCALARS = {"train/loss", "train/acc", "val/loss", "val/acc", "val/acc_best", "test/loss", "test/acc", "lr-Adam"}


@pytest.fixture(scope="module")
def two_runs(tiny_mnist, tmp_path_factory):
    """Two default fits in the same folder, the second a short one; the first run's files as they were before the
    second."""
    workdir = tmp_path_factory.mktemp("fit")
    # A learning rate twice the default's learns the tiny digits in 5 epochs (accuracy 1.0 here) where 12 took it.
    learns = tiny_fit_args(tiny_mnist, "--trainer.max_epochs=5", "--model.optimizer.lr=0.02")
    first = run_module("lit_rnn.fit", learns, cwd=workdir)
    assert first.returncode == 0, first.stderr
    before = snapshot(workdir / "lightning_logs" / "version_0")
    second = run_module("lit_rnn.fit", tiny_fit_args(tiny_mnist, "--trainer.max_epochs=1"), cwd=workdir)
    assert second.returncode == 0, second.stderr
    return workdir, first, before


def test_prints_accuracy_predictions_and_where_the_logs_are(two_runs):
    _, first, _ = two_runs
    out = first.stdout
    assert "Test accuracy on the 200 MNIST test images" in out
    assert reported_accuracy(out) > 0.9  # the tiny digits are learnable; chance is 0.1
    predicted = re.search(r"^(\[.*\]) prediction number$", out, re.M).group(1)
    real = re.search(r"^(\[.*\]) real number$", out, re.M).group(1)
    assert len(eval(predicted)) == len(eval(real)) == 10
    assert "Logs and checkpoints: " in out and "version_0" in out
    assert "tensorboard --logdir lightning_logs" in out


def test_run_folder_holds_checkpoints_config_and_events(two_runs):
    workdir, _, _ = two_runs
    run = workdir / "lightning_logs" / "version_0"
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert len(list((run / "checkpoints").glob("best-*.ckpt"))) == 1
    assert "hidden_size: 64" in (run / "config.yaml").read_text()
    assert list(run.glob("events.out.tfevents.*"))


def test_event_files_hold_the_scalars_and_real_hparams(two_runs):
    workdir, _, _ = two_runs
    events = EventAccumulator(str(workdir / "lightning_logs" / "version_0")).Reload()
    assert SCALARS <= set(events.Tags()["scalars"])
    assert "hp_metric" not in events.Tags()["scalars"]
    content = events.PluginTagToContent("hparams")
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert {info.name.tag for info in experiment.metric_infos} == {"val/acc_best", "test/acc"}
    session = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert session.hparams["network.hidden_size"].number_value == 64
    assert session.hparams["data.batch_size"].number_value == 50
    assert not any(name.split(".")[-1].startswith("_") for name in session.hparams)
    best = events.Scalars("val/acc_best")[-1].value
    assert best == max(event.value for event in events.Scalars("val/acc"))


def test_best_checkpoint_reloads_into_a_model_with_the_reported_accuracy(two_runs, tiny_mnist):
    workdir, first, _ = two_runs
    (best,) = (workdir / "lightning_logs" / "version_0" / "checkpoints").glob("best-*.ckpt")
    assert checkpoint_accuracy(best, tiny_mnist) == pytest.approx(reported_accuracy(first.stdout), abs=5e-5)


def test_second_run_writes_version_1_and_leaves_version_0_alone(two_runs):
    workdir, _, before = two_runs
    assert (workdir / "lightning_logs" / "version_1" / "checkpoints" / "last.ckpt").is_file()
    assert snapshot(workdir / "lightning_logs" / "version_0") == before


def test_the_run_writes_its_results_for_the_commands_that_compare_runs(two_runs):
    workdir, first, _ = two_runs
    run = workdir / "lightning_logs" / "version_0"
    results = run_results.read(run)
    events = EventAccumulator(str(run)).Reload()
    per_digit = {f"{stage}_per_digit/acc_{digit}" for stage in ("val", "test") for digit in range(10)}
    logged = SCALARS | per_digit
    assert results["metrics"] == pytest.approx({tag: events.Scalars(tag)[-1].value for tag in logged})
    assert f"Training took {results['train_seconds']:.1f} s." in first.stdout
