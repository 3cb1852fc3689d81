"""The resume plan (``lit_rnn.runs.resume``): a fit without ``--ckpt_path`` is a new run under the first file logger's
``save_dir/name``; with one, it goes on in the run the checkpoint belongs to (a loose checkpoint starts a new run from
it), and a resume that would train on other batches than the run did is refused. The plan writes nothing."""

import os
import re
import signal
import sys
from pathlib import Path

import pytest
import torch
from helpers.checkpoints import lightning_like_checkpoint
from helpers.cli import fit_config
from helpers.commands import run_module, snapshot, tiny_fit_args
from helpers.resume import assert_identical, fit_args, interrupt

from lit_rnn.base.errors import ConfigError
from lit_rnn.runs.checkpointing import read_checkpoint
from lit_rnn.runs.folders import LOG_ROOT, NothingToResume
from lit_rnn.runs.resume import JOB_FILE, RunPlan, plan_run, runs_root

TENSORBOARD = "lightning.pytorch.loggers.TensorBoardLogger"
CSV = "lightning.pytorch.loggers.CSVLogger"
MLFLOW = "lightning.pytorch.loggers.MLFlowLogger"


@pytest.fixture
def in_tmp(tmp_path, monkeypatch, tiny_mnist):
    """An empty working folder; ``config(*args)`` parses fit's arguments there as fit does, on the tiny data."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lit_rnn.fit"])
    return lambda *args: fit_config(tiny_fit_args(tiny_mnist, *args))


def saved_run(run: Path, name: str = "last.ckpt", **changes) -> Path:
    """A checkpoint of a run trained as ``tiny_fit_args`` trains (its data order and seed), in ``run/checkpoints``."""
    path = run / "checkpoints" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    trained_as = {
        "datamodule_hyper_parameters": {"batch_size": 50, "val_size": 100, "split_seed": 0},
        "MNISTDataModule": {"shuffle_seed": 1},  # the data module's state: its shuffling seed
    }
    torch.save(lightning_like_checkpoint(**{**trained_as, **changes}), path)
    return path


@pytest.mark.parametrize(
    ("args", "root"),
    [
        ([], LOG_ROOT),
        (
            ["--trainer.logger.init_args.save_dir=sweeps/loss", "--trainer.logger.init_args.name=trial_3"],
            "sweeps/loss/trial_3",
        ),
        ([f"--trainer.logger={CSV}", "--trainer.logger.init_args.save_dir=csv_logs"], "csv_logs/lightning_logs"),
        (
            [f"--trainer.logger={CSV}", "--trainer.logger.init_args.save_dir=logs", "--trainer.logger.init_args.name="],
            "logs",
        ),
        (["--trainer.logger=false"], LOG_ROOT),
        ([f"--trainer.logger={MLFLOW}"], LOG_ROOT),  # MLflow's save_dir is its store, not a folder of runs
        (
            [
                f'--trainer.logger=[{{"class_path": "{MLFLOW}"}}, '
                f'{{"class_path": "{CSV}", "init_args": {{"save_dir": "csv_logs", "name": "cells"}}}}]'
            ],
            "csv_logs/cells",
        ),
    ],
)
def test_the_runs_root_is_the_first_file_loggers_save_dir_and_name(args, root, in_tmp):
    assert runs_root(in_tmp(*args)) == Path(root)


def test_a_fit_without_a_checkpoint_is_a_new_run_under_the_root(in_tmp):
    assert plan_run(in_tmp()) == RunPlan(LOG_ROOT)


def test_a_checkpoint_in_a_runs_folder_resumes_that_run(in_tmp, tmp_path):
    checkpoint = saved_run(tmp_path / "elsewhere" / "version_4", "best-epoch=0-step=10.ckpt")
    plan = plan_run(in_tmp(f"--ckpt_path={checkpoint}"))
    assert (plan.root, plan.run, plan.checkpoint_path) == (LOG_ROOT, checkpoint.parent.parent, checkpoint)
    assert plan.checkpoint["global_step"] == 30


def test_a_loose_checkpoint_starts_a_new_run_from_its_weights(in_tmp, tmp_path):
    loose = saved_run(tmp_path / "version_0").rename(tmp_path / "model.ckpt")
    plan = plan_run(in_tmp(f"--ckpt_path={loose}"))
    assert plan.run is None and plan.checkpoint_path == loose and plan.checkpoint["epoch"] == 1


def test_last_is_the_newest_checkpoint_of_the_newest_run_under_the_root_that_has_one(in_tmp, tmp_path):
    root = tmp_path / "csv_logs" / "lightning_logs"
    saved_run(root / "version_0", global_step=5)
    older, newer = saved_run(root / "version_1", "recovery.ckpt"), saved_run(root / "version_1", "last.ckpt")
    os.utime(older, (1, 1))
    (root / "version_2" / "checkpoints").mkdir(parents=True)  # a run stopped before it saved anything
    plan = plan_run(
        in_tmp(f"--trainer.logger={CSV}", "--trainer.logger.init_args.save_dir=csv_logs", "--ckpt_path=last")
    )
    assert (plan.run, plan.checkpoint_path) == (Path("csv_logs/lightning_logs/version_1"), newer.relative_to(tmp_path))


def test_last_with_no_run_under_the_root_says_so(in_tmp):
    with pytest.raises(NothingToResume, match="There is no checkpoint to use as 'last': no run under lightning_logs"):
        plan_run(in_tmp("--ckpt_path=last"))


@pytest.mark.parametrize(
    ("args", "changed"),
    [
        (["--data.batch_size=64"], "--data.batch_size 64 (the run's: 50)"),
        (
            ["--data.val_size=200", "--data.split_seed=3"],
            "--data.val_size 200 (the run's: 100), --data.split_seed 3 (the run's: 0)",
        ),
        (["--seed_everything=7"], "--seed_everything 7 (the run's: 1)"),
    ],
)
def test_a_resume_that_would_train_on_other_batches_is_refused_naming_each_change(args, changed, in_tmp, tmp_path):
    checkpoint = saved_run(tmp_path / "lightning_logs" / "version_0")
    with pytest.raises(ConfigError) as refused:
        plan_run(in_tmp(*args, "--ckpt_path=last"))
    assert str(refused.value) == (
        f"The resume would train on other batches than the run did: {changed}. Resume with the run's own settings "
        f"(its config.yaml: --config {Path('lightning_logs/version_0/config.yaml')}), or start a new run without "
        "--ckpt_path."
    )
    assert checkpoint.is_file()


def test_a_run_without_a_seed_resumes_without_one_by_its_checkpoints_shuffle_seed(in_tmp, tmp_path):
    saved_run(tmp_path / "lightning_logs" / "version_0", MNISTDataModule={"shuffle_seed": 12345})
    assert plan_run(in_tmp("--seed_everything=false", "--ckpt_path=last")).run == Path("lightning_logs/version_0")


def test_fewer_epochs_than_the_run_has_trained_are_refused(in_tmp, tmp_path):
    saved_run(tmp_path / "lightning_logs" / "version_0", epoch=3)
    with pytest.raises(ConfigError) as refused:
        plan_run(in_tmp("--ckpt_path=last"))  # tiny_fit_args: --trainer.max_epochs=2
    assert "trainer.max_epochs" in str(refused.value) and "at least 3, the epochs" in str(refused.value)
    assert plan_run(in_tmp("--ckpt_path=last", "--trainer.max_epochs=3")).run is not None
    assert plan_run(in_tmp("--ckpt_path=last", "--trainer.max_epochs=-1", "--trainer.max_steps=100")).run is not None


def test_the_plan_writes_nothing(in_tmp, tmp_path):
    saved_run(tmp_path / "lightning_logs" / "version_0")
    before = snapshot(tmp_path)
    plan_run(in_tmp("--ckpt_path=last"))
    plan_run(in_tmp())
    assert snapshot(tmp_path) == before and sorted(path.name for path in (tmp_path / "lightning_logs").iterdir()) == [
        "version_0"
    ]


RECURRENT = "lit_rnn.model.networks.recurrent.RecurrentNetwork"
TUTORIAL = {"cell": "lstm", "hidden_size": 64, "num_layers": 1, "dropout": 0.0, "bidirectional": False}
TUTORIAL_STEPS = {"rows_per_step": 1, "crop_rows": 0, "num_classes": 10}


@pytest.mark.parametrize(
    ("args", "changed"),
    [
        (["--model.normalize_input=true"], "--model.normalize_input True (the run's: False)"),
        (["--model.network.crop_rows=4"], "--model.network.crop_rows 4 (the run's: 0)"),
        (
            ["--model.network.cell=gru", "--model.network.rows_per_step=2"],
            "--model.network.cell 'gru' (the run's: 'lstm'), --model.network.rows_per_step 2 (the run's: 1)",
        ),
        (["--model.network=torch.nn.Flatten"], f"--model.network torch.nn.Flatten (the run's: {RECURRENT})"),
    ],
)
@pytest.mark.parametrize("layout", ["today's", "an old run's"])
def test_a_resume_that_would_train_another_network_is_refused_naming_each_change(
    args, changed, layout, in_tmp, tmp_path
):
    """Settings that change what the network computes, its weights' shapes or not, are the run's for good."""
    saved = (
        {"network": {"class_path": RECURRENT, "init_args": {**TUTORIAL, **TUTORIAL_STEPS}}, "normalize_input": False}
        if layout == "today's"
        else {**TUTORIAL, "normalize_input": False}  # before networks were components, without the later settings
    )
    # An old run saved no rows_per_step nor crop_rows: it trained with their defaults, 1 and 0.
    checkpoint = saved_run(tmp_path / "lightning_logs" / "version_0", hyper_parameters=saved)
    assert plan_run(in_tmp("--ckpt_path=last")).run == Path("lightning_logs/version_0")  # its own settings resume
    with pytest.raises(ConfigError) as refused:
        plan_run(in_tmp(*args, "--ckpt_path=last"))
    assert str(refused.value) == (
        f"The resume would train another network than the run did: {changed}. Resume with the run's own settings "
        f"(its config.yaml: --config {Path('lightning_logs/version_0/config.yaml')}), or start a new run without "
        "--ckpt_path."
    )
    assert checkpoint.is_file()


def job_run(run: Path, job_id: str, **changes) -> Path:
    """A checkpoint of a run that the job ``job_id`` started."""
    path = saved_run(run, **changes)
    (run / JOB_FILE).write_text(f"{job_id}\n")
    return path


def test_a_jobs_fit_resumes_the_newest_run_marked_with_its_id_from_its_newest_checkpoint(in_tmp, tmp_path):
    root = tmp_path / "lightning_logs"
    job_run(root / "version_0", "41", global_step=5)
    ours = job_run(root / "version_1", "42", global_step=7)
    job_run(root / "version_2", "43")
    (root / "version_3" / "checkpoints").mkdir(parents=True)  # another job's run, stopped before it saved anything
    (root / "version_3" / JOB_FILE).write_text("42\n")
    plan = plan_run(in_tmp("--job_id=42"))
    assert (plan.run, plan.checkpoint_path, plan.checkpoint["global_step"]) == (
        Path("lightning_logs/version_1"),
        ours.relative_to(tmp_path),
        7,
    )


def test_a_jobs_first_fit_is_a_new_run(in_tmp, tmp_path):
    saved_run(tmp_path / "lightning_logs" / "version_0")  # a run of no job, which `last` would resume
    job_run(tmp_path / "lightning_logs" / "version_1", "7")
    assert plan_run(in_tmp("--job_id=42")) == RunPlan(LOG_ROOT)


def test_a_jobs_resume_is_checked_as_any_resume(in_tmp, tmp_path):
    job_run(tmp_path / "lightning_logs" / "version_0", "42")
    with pytest.raises(ConfigError, match=r"other batches than the run did: --data.batch_size 64 \(the run's: 50\)"):
        plan_run(in_tmp("--job_id=42", "--data.batch_size=64"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--job_id=42", "--ckpt_path=last"], "--job_id 42 and --ckpt_path last were both given"),
        (["--job_id="], "--job_id"),
        (["--job_id=4\n2"], "--job_id"),
    ],
)
def test_a_job_id_that_cannot_name_the_jobs_run_is_refused(args, message, in_tmp):
    with pytest.raises(ConfigError, match=re.escape(message)):
        plan_run(in_tmp(*args))


@pytest.mark.slow  # three fit processes
def test_a_job_stopped_by_sigusr1_goes_on_with_the_same_command_to_the_weights_of_a_job_never_stopped(
    tiny_mnist, tmp_path
):
    """SIGUSR1, a cluster's warning before its time limit, saves the step as SIGTERM does (exit 138); the same command
    then goes on in the job's run. Stopped after the run's last best checkpoint, so that last.ckpt, which the resumed
    process does not rewrite, is the one the run saved."""
    env = {"OMP_NUM_THREADS": "1"}
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    straight.mkdir(), stopped.mkdir()
    job = ["--job_id=1234", *fit_args(tiny_mnist)]
    first = run_module("lit_rnn.fit", [*job, *interrupt(24, signal_name="USR1")], cwd=stopped, env=env)
    assert first.returncode == 128 + signal.SIGUSR1, first.stderr[-3000:]
    (line,) = [line for line in first.stderr.splitlines() if line.startswith("error:")]
    assert line.startswith("error: Stopped by SIGUSR1 after step 25; the training so far is saved in ")
    assert line.endswith("Continue it with the same command.")  # a job's fit finds its run: no --ckpt_path
    again = run_module("lit_rnn.fit", job, cwd=stopped, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (
        "Restored all states from the checkpoint at lightning_logs/version_0/checkpoints/recovery.ckpt" in again.stderr
    )
    result = run_module("lit_rnn.fit", fit_args(tiny_mnist), cwd=straight, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    run = stopped / "lightning_logs" / "version_0"
    assert sorted(path.name for path in run.parent.iterdir()) == ["version_0"]
    for name in ("last.ckpt", "recovery.ckpt"):
        expected = read_checkpoint(straight / "lightning_logs" / "version_0" / "checkpoints" / name)
        actual = read_checkpoint(run / "checkpoints" / name)
        for key in ("state_dict", "optimizer_states", "lr_schedulers", "global_step"):
            assert_identical(actual[key], expected[key], f"{name} {key}")
