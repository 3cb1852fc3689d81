"""Step metrics are their own step's, although the model only computes them on the steps Lightning writes."""

import pytest
from helpers.cli import fit_in_process
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def logged_train_losses(run_dir) -> dict[int, float]:
    events = EventAccumulator(str(run_dir)).Reload()
    return {event.step: event.value for event in events.Scalars("train/loss")}


def test_step_metrics_are_logged_every_n_steps_with_their_own_steps_values(tiny_mnist, tmp_path, monkeypatch):
    every_step, every_third = tmp_path / "every_step", tmp_path / "every_third"
    for workdir, cadence in ((every_step, 1), (every_third, 3)):
        workdir.mkdir()
        fit_in_process(
            tiny_mnist,
            workdir,
            monkeypatch,
            "--model.network.hidden_size=16",  # a small network: the logging is the same, the steps quicker
            "--trainer.max_steps=12",
            f"--trainer.log_every_n_steps={cadence}",
        )
    all_losses = logged_train_losses(every_step / "lightning_logs" / "version_0")
    sparse = logged_train_losses(every_third / "lightning_logs" / "version_0")
    assert sorted(all_losses) == list(range(12))
    assert len(set(all_losses.values())) == 12  # each step's own loss, none repeated from an earlier step
    assert sorted(sparse) == [2, 5, 8, 11]
    assert sparse == pytest.approx({step: all_losses[step] for step in sparse}, abs=0)
