"""The shipped sbatch files on a real single-node Slurm (``slurm_cluster``), pre-empted every way a cluster does.

Each fit job is pre-empted in the middle of training, saves, is requeued, and its requeued run goes on in the same run
folder (nobody gives --ckpt_path) to end bit-identical to a fit never pre-empted. The jobs run side by side, so that the
time limit's minute is spent once. A sweep array survives one of its tasks being pre-empted: its trial resumes, and no
trial runs twice.
"""

import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import optuna
import pytest
from helpers.commands import REPO, TESTS, run_module
from helpers.resume import assert_identical, assert_same_training_state, fit_args
from slurm_cluster import SlurmCluster, missing

from lit_rnn.runs.checkpointing import read_checkpoint
from lit_rnn.runs.resume import JOB_FILE

pytestmark = [pytest.mark.slow, pytest.mark.skipif(missing() is not None, reason=f"no Slurm here: {missing()}")]

SLURM = REPO / "examples" / "slurm"
HOLD_STEP = 13  # the step at which a job is held while the test pre-empts it
ENV = {  # the job's python is the project's; the test callbacks import; one thread, as in the run never pre-empted
    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS)]),
    "OMP_NUM_THREADS": "1",
}
# How each fit job is pre-empted: sbatch's own options, a callback that makes it catchable, and the test's action.
SCENARIOS = {
    "scontrol requeue": ([], "hold", ["scontrol", "requeue"]),
    "scancel --signal=USR1": ([], "hold", ["scancel", "--signal=USR1"]),
    "scancel --signal=TERM": ([], "hold", ["scancel", "--signal=TERM"]),
    # Slurm sends a warning up to 60 s before it is due and ends a job up to 30 s after its limit: these runs train for
    # 75 and 90 s, slowed, so that each signal finds them training. CONT: no warning ahead of this time limit.
    "warning before the time limit (--signal=USR1@45)": (["--time=2", "--signal=USR1@45"], 2.5, None),
    "time limit": (["--time=1", "--signal=CONT@1"], 3.0, None),
}
SWEEP = """
sweep:
  study_name: cells
  sampler: random
  trials: 4
  pruner: null
  space:
    model.network.cell: [gru, lstm]
    seed_everything: [1, 2]
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    slurm = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        slurm.start()
        yield slurm
    finally:
        slurm.stop()


def hold(flag: Path, step: int = HOLD_STEP) -> list[str]:
    return [
        "--trainer.callbacks+=cluster.stops.HoldAt",
        f"--trainer.callbacks.step={step}",
        "--trainer.callbacks.seconds=4",
        f"--trainer.callbacks.flag={flag}",
    ]


def slow(seconds: float) -> list[str]:
    return ["--trainer.callbacks+=cluster.stops.SlowSteps", f"--trainer.callbacks.seconds={seconds}"]


def held_job(cluster: SlurmCluster, job: str, flag: Path, timeout: float = 180) -> str:
    """The Slurm job ID that the held process wrote into ``flag``, once it is held."""
    deadline = time.monotonic() + timeout
    while not flag.is_file() or not flag.read_text().endswith("\n"):
        assert not cluster.ended(job) and time.monotonic() < deadline, f"job {job} was never held: {cluster.job(job)}"
        time.sleep(0.2)
    return flag.read_text().split()[0]


@pytest.fixture(scope="module")
def preempted(cluster, tiny_mnist, tmp_path_factory):
    """Each scenario's job, pre-empted and run to its end: its folder, job ID and output; and a fit never pre-empted."""
    with ThreadPoolExecutor(1) as beside:
        straight = tmp_path_factory.mktemp("straight")
        reference = beside.submit(run_module, "lit_rnn.fit", fit_args(tiny_mnist), cwd=straight, env=ENV)
        jobs, started = {}, time.monotonic()
        for name, (options, catch, _) in SCENARIOS.items():
            workdir = tmp_path_factory.mktemp("job")
            extra = hold(workdir / "held") if catch == "hold" else slow(catch)
            job = cluster.sbatch(SLURM / "fit.sbatch", fit_args(tiny_mnist, *extra), workdir, ENV, "--cpus-per-task=1",
                                 f"--output={workdir / 'job.out'}", *options)  # fmt: skip
            jobs[name] = workdir, job
        for name, (_, _, action) in SCENARIOS.items():
            if action is not None:
                workdir, job = jobs[name]
                assert held_job(cluster, job, workdir / "held") == job
                cluster.run(*action, job)
        cluster.wait_until_done([job for _, job in jobs.values()], timeout=360)
        print(f"the {len(jobs)} pre-empted jobs took {time.monotonic() - started:.0f} s side by side")
        result = reference.result()
        assert result.returncode == 0, result.stderr[-3000:]
    return straight / "lightning_logs" / "version_0", {
        name: (workdir, cluster.job(job), (workdir / "job.out").read_text()) for name, (workdir, job) in jobs.items()
    }


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_preempted_job_is_requeued_and_ends_bit_identical_to_a_job_never_preempted(scenario, preempted):
    straight, jobs = preempted
    workdir, job, output = jobs[scenario]
    assert job["JobState"] == "COMPLETED" and job["ExitCode"] == "0:0", output[-3000:]
    assert int(job["Restarts"]) >= 1, output[-3000:]
    # Every stop saved the step it came in, and the requeued job went on from exactly there: no training lost.
    stopped = [int(step) for step in re.findall(r"error: Stopped by SIG(?:USR1|TERM) after step (\d+)", output)]
    resumed = re.findall(r"Restored all states from the checkpoint at (\S+)", output)
    assert stopped and len(resumed) == len(stopped) == int(job["Restarts"]), output[-3000:]
    if SCENARIOS[scenario][1] == "hold":
        assert stopped == [HOLD_STEP + 1]
    runs = sorted((workdir / "lightning_logs").iterdir())
    assert [run.name for run in runs] == ["version_0"], "the requeued job went on in the job's one run folder"
    assert (runs[0] / JOB_FILE).read_text().strip() == job["JobId"]
    assert all(Path(path).parent.parent.name == "version_0" for path in resumed)
    assert_same_training_state(runs[0], straight)


def test_a_sweep_array_survives_a_preempted_task_its_trial_resumed_and_none_run_twice(cluster, tiny_mnist, tmp_path):
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    flag = tmp_path / "held"
    args = ["--config=sweep.yaml", *fit_args(tiny_mnist, "--trainer.max_epochs=1", *hold(flag, step=5))]
    array = cluster.sbatch(SLURM / "sweep.sbatch", args, tmp_path, ENV, "--array=0-1", "--cpus-per-task=1",
                           f"--output={tmp_path / 'task-%a.out'}")  # fmt: skip
    held = held_job(cluster, array, flag)
    cluster.run("scancel", "--signal=USR1", held)
    tasks = cluster.array_tasks(array)
    cluster.wait_until_done(tasks, timeout=240)
    outputs = "\n".join(path.read_text() for path in tmp_path.glob("task-*.out"))
    states = {task: cluster.job(task) for task in tasks}
    assert all(state["JobState"] == "COMPLETED" for state in states.values()), outputs[-3000:]
    assert {task: int(state["Restarts"]) for task, state in states.items()} == {
        task: int(task == held) for task in tasks
    }
    assert "error: Stopped by SIGUSR1 during a trial" in outputs
    study = optuna.load_study(study_name="cells", storage=f"sqlite:///{tmp_path / 'sweeps' / 'cells' / 'study.db'}")
    trials = study.get_trials()
    complete = [trial for trial in trials if trial.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 4 and len({trial.user_attrs["run"] for trial in complete}) == 4  # none ran twice
    (interrupted,) = [trial for trial in trials if trial.state == optuna.trial.TrialState.FAIL]
    run = tmp_path / "sweeps" / "cells" / f"trial_{interrupted.number}" / "version_0"
    (retry,) = [trial for trial in complete if tmp_path / trial.user_attrs["run"] == run]  # in the trial's own run
    assert retry.params == interrupted.params
    assert [path.name for path in run.parent.glob("version_*")] == ["version_0"]
    assert "Restored all states from the checkpoint" in (run.parent / "fit.log").read_text()
    cell, seed = interrupted.params["model.network.cell"], interrupted.params["seed_everything"]
    (tmp_path / "straight").mkdir()
    settings = [f"--model.network.cell={cell}", f"--seed_everything={seed}", "--trainer.max_epochs=1"]
    straight = run_module("lit_rnn.fit", fit_args(tiny_mnist, *settings), cwd=tmp_path / "straight", env=ENV)
    assert straight.returncode == 0, straight.stderr[-3000:]
    expected = read_checkpoint(tmp_path / "straight" / "lightning_logs" / "version_0" / "checkpoints" / "recovery.ckpt")
    actual = read_checkpoint(run / "checkpoints" / "recovery.ckpt")
    for key in ("state_dict", "optimizer_states", "global_step"):
        assert_identical(actual[key], expected[key], key)
