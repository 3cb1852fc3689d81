"""``torchrun`` as the launcher: a worker SIGKILLed in the middle of an epoch, the group restarted by its elastic agent
(``--max-restarts``), and the same command going on from the run's newest checkpoint by itself (``--job_id``, the
same ID as the rendezvous), to the weights of a two-process run never killed. On one node of two processes, and on two "nodes" of
one process each (two agents on this machine, c10d rendezvous on 127.0.0.1)."""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers.commands import REPO, TESTS, run_module
from helpers.resume import assert_same_training_state, fit_args
from slurm_cluster import free_port

pytestmark = pytest.mark.slow

TORCHRUN = str(Path(sys.executable).parent / "torchrun")
KILL_STEP = 13  # the recovery checkpoint is saved every 4 steps (fit_args): the restarted group goes on from step 12
# TORCH_DISABLE_SHARE_RDZV_TCP_STORE: the restarted workers get a store of their own, not the rendezvous's, where
# they can read the previous attempt's addresses and fail or hang connecting (pytorch/pytorch#135712; measured here:
# a plain torch script's restart failed 1 in 3 without it, 0 in 4 with it).
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS)]),
    "OMP_NUM_THREADS": "1",
    "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1",
}


def worker_args(data: Path, flag: Path, job_id: str, *extra: str) -> list[str]:
    """fit's arguments for each worker: DDP over gloo, and the kill of global rank 1 at ``KILL_STEP``, once."""
    return [
        "-m",
        "lit_rnn.fit",
        f"--job_id={job_id}",
        *fit_args(
            data,
            "--trainer.strategy=ddp",
            "--trainer.accelerator=cpu",
            "--data.batch_size=25",
            "--trainer.callbacks+=cluster.stops.KillOnce",
            f"--trainer.callbacks.step={KILL_STEP}",
            "--trainer.callbacks.rank=1",
            f"--trainer.callbacks.flag={flag}",
            *extra,
        ),
    ]


def rendezvous(job_id: str) -> list[str]:
    """A c10d rendezvous on 127.0.0.1. Not torchrun's default (static) nor --standalone: with either, torch 2.14.1's
    restarted gloo workers often fail to connect ("Gloo connectFullMesh failed ... Connection refused"), a plain
    ten-line torch script as well as fit (docs/clusters.md)."""
    return ["--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{free_port()}", f"--rdzv-id={job_id}"]


def torchrun(workdir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [TORCHRUN, "--max-restarts=2", *args],
        cwd=workdir,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture(scope="module")
def never_killed(tiny_mnist, tmp_path_factory) -> Path:
    """Two processes that Lightning starts, never killed: the run the killed ones must end as."""
    workdir = tmp_path_factory.mktemp("never_killed")
    args = fit_args(tiny_mnist, "--trainer.strategy=ddp", "--trainer.devices=2", "--trainer.accelerator=cpu",
                    "--data.batch_size=25")  # fmt: skip
    result = run_module("lit_rnn.fit", args, cwd=workdir, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir / "lightning_logs" / "version_0"


def assert_ends_as(workdir: Path, outputs: list[str], flag: Path, expected_run: Path) -> None:
    output = "\n".join(outputs)
    assert flag.is_file(), output[-3000:]  # a worker was killed
    assert "Restored all states from the checkpoint at lightning_logs/version_0/checkpoints/recovery.ckpt" in output
    runs = sorted((workdir / "lightning_logs").iterdir())
    assert [run.name for run in runs] == ["version_0"], "the restarted group went on in the run's one folder"
    assert_same_training_state(runs[0], expected_run)


def test_a_worker_killed_mid_epoch_is_restarted_with_its_group_and_ends_as_a_run_never_killed(
    never_killed, tiny_mnist, tmp_path
):
    flag = tmp_path / "killed"
    agent = torchrun(tmp_path, *rendezvous("one-node"), "--nnodes=1", "--nproc_per_node=2",
                     *worker_args(tiny_mnist, flag, "one-node", "--trainer.devices=2"))  # fmt: skip
    output, _ = agent.communicate(timeout=300)
    assert agent.returncode == 0, output[-3000:]
    assert_ends_as(tmp_path, [output], flag, never_killed)


def test_two_nodes_resume_after_a_worker_of_one_is_killed_and_end_as_a_run_never_killed(
    never_killed, tiny_mnist, tmp_path
):
    flag, nodes = tmp_path / "killed", [*rendezvous("two-nodes"), "--nnodes=2", "--nproc_per_node=1"]
    args = worker_args(tiny_mnist, flag, "two-nodes", "--trainer.devices=1", "--trainer.num_nodes=2")
    with ThreadPoolExecutor(2) as both:
        agents = [torchrun(tmp_path, *nodes, *args) for _ in range(2)]
        outputs = list(both.map(lambda agent: agent.communicate(timeout=300)[0], agents))
    assert [agent.returncode for agent in agents] == [0, 0], "\n".join(outputs)[-3000:]
    assert_ends_as(tmp_path, outputs, flag, never_killed)
