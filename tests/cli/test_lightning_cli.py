"""What the fit command's LightningCLI adds to the Trainer it builds: a progress bar that redraws every 20 steps unless
configured otherwise, and no profiling of Lightning's hooks unless a profiler is asked for."""

import pytest
from helpers.cli import cli_in_process, fit_in_process
from lightning.pytorch.callbacks import ProgressBar
from lightning.pytorch.profilers import SimpleProfiler

from lit_rnn.cli.profiling import NoProfiler


@pytest.mark.parametrize(
    ("extra", "refresh_rate"),
    [
        ([], 20),
        (["--progress_bar_refresh_rate=5"], 5),
        (["--trainer.enable_progress_bar=false"], None),
        (["--trainer.callbacks+=TQDMProgressBar", "--trainer.callbacks.refresh_rate=3"], 3),
    ],
)
def test_progress_bar_redraws_every_20_steps_unless_configured(extra, refresh_rate, tiny_mnist, tmp_path, monkeypatch):
    args = [f"--data.data_dir={tiny_mnist}", *extra]
    bars = [c for c in cli_in_process(tmp_path, monkeypatch, args).trainer.callbacks if isinstance(c, ProgressBar)]
    assert [bar.refresh_rate for bar in bars] == ([] if refresh_rate is None else [refresh_rate])


def test_hooks_are_not_profiled_unless_a_profiler_is_asked_for(tiny_mnist, tmp_path, monkeypatch):
    (tmp_path / "quiet").mkdir(), (tmp_path / "profiled").mkdir()
    quiet = fit_in_process(tiny_mnist, tmp_path / "quiet", monkeypatch, "--trainer.fast_dev_run=1").trainer.profiler
    assert isinstance(quiet, NoProfiler)
    assert quiet.profile("[Strategy]SingleDeviceStrategy.training_step") is quiet.profile("run_training_batch")

    profiled = fit_in_process(
        tiny_mnist, tmp_path / "profiled", monkeypatch, "--trainer.fast_dev_run=1", "--trainer.profiler=simple"
    ).trainer.profiler
    assert isinstance(profiled, SimpleProfiler)
    assert len(profiled.recorded_durations["[Strategy]SingleDeviceStrategy.training_step"]) == 1  # one step, timed
