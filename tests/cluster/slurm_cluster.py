"""A real single-node Slurm for the tests: munged, slurmctld and slurmd from Debian's ``slurm-wlm`` and ``munge``, with
their key, configuration, state and logs in a temporary folder and their ports free on 127.0.0.1. It needs root (as
CI runs): slurmd starts each job as its user. No cgroups: processes are tracked by their parent (linuxproc)."""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DAEMONS = ("/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd")
COMMANDS = ("sbatch", "squeue", "scontrol", "scancel", "srun")
KILL_WAIT = 10  # seconds between the SIGTERM that ends a job and its SIGKILL: time enough for fit to save its step
LIVE = {"PENDING", "RUNNING", "REQUEUED", "COMPLETING", "CONFIGURING", "REQUEUE_HOLD", "REQUEUE_FED", "SUSPENDED"}
CRED_EXPIRE = 5  # Slurm holds a requeued job back for the credential's lifetime (120 s by default)


def missing() -> str | None:
    """Why no cluster can start here, or None."""
    absent = [path for path in DAEMONS if not os.access(path, os.X_OK)]
    absent += [name for name in COMMANDS if shutil.which(name) is None]
    if absent:
        return f"{', '.join(absent)} absent: apt-get install slurm-wlm munge (CI's .ci/run does)"
    if os.geteuid() != 0:
        return "slurmd must run as root to start jobs (CI runs the tests as root)"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SlurmCluster:
    """The daemons, started by ``start`` and stopped by ``stop``; the commands run against it with ``env``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.host = socket.gethostname().split(".")[0]
        self.conf = folder / "slurm.conf"
        self.munge_socket = folder / "munge" / "socket"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.daemons: list[subprocess.Popen] = []

    def start(self) -> None:
        munge = self.folder / "munge"
        for sub in ("munge", "state", "spool", "log"):
            (self.folder / sub).mkdir(mode=0o700)
        (munge / "munge.key").write_bytes(os.urandom(1024))
        (munge / "munge.key").chmod(0o400)
        self._start(
            "/usr/sbin/munged", "--foreground", "--force", f"--key-file={munge / 'munge.key'}",
            f"--socket={self.munge_socket}", f"--pid-file={munge / 'pid'}", f"--log-file={munge / 'log'}",
            f"--seed-file={munge / 'seed'}",
        )  # fmt: skip
        self._wait(lambda: self.munge_socket.exists(), "munged's socket")
        self.conf.write_text(self._config())
        self._start("/usr/sbin/slurmctld", "-D", "-i")
        self._start("/usr/sbin/slurmd", "-D")
        self._wait(self._node_idle, "the node to be idle (sinfo)")

    def stop(self) -> None:
        for daemon in reversed(self.daemons):
            daemon.terminate()
        for daemon in reversed(self.daemons):
            try:
                daemon.wait(timeout=20)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()

    def logs(self) -> str:
        """The daemons' logs' last lines, for a failure's message."""
        tails = [
            f"{path.name}:\n" + "\n".join(path.read_text().splitlines()[-15:]) for path in self.folder.glob("log/*")
        ]
        return "\n".join(tails)

    def run(self, *command: str, check: bool = True) -> str:
        result = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)}: {result.stderr}\n{self.logs()}")
        return result.stdout.strip()

    def sbatch(self, script: Path, args: list[str], workdir: Path, env: dict[str, str], *options: str) -> str:
        """Submit ``script args`` from the repository (as a user does: the sbatch files find their helper there), to run
        in ``workdir`` with ``env`` exported; its job ID (an array's ID for an array)."""
        result = subprocess.run(
            ["sbatch", "--parsable", f"--chdir={workdir}", "--export=ALL", *options, str(script), *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().split(";")[0]

    def job(self, job_id: str) -> dict[str, str]:
        """``scontrol show job``'s fields of one job (an array task by its own ID), empty once Slurm forgot it."""
        text = self.run("scontrol", "--oneliner", "show", "job", job_id, check=False)
        return dict(field.split("=", 1) for field in text.split() if "=" in field)

    def array_tasks(self, array_id: str) -> list[str]:
        """An array's tasks as ARRAY_TASK (their own job IDs can be the array's, which names every task)."""
        text = self.run("squeue", "--noheader", "--array", "--states=all", "--format=%i", f"--jobs={array_id}")
        return sorted(text.split())

    def ended(self, job_id: str) -> bool:
        """Whether the job has ended for good: neither pending, running, requeued nor completing (a controller too busy
        to answer says nothing)."""
        state = self.job(job_id).get("JobState")
        return state is not None and state not in LIVE

    def wait_until_done(self, job_ids: list[str], timeout: float) -> None:
        self._wait(lambda: all(self.ended(job) for job in job_ids), "the jobs to end", timeout)

    def _start(self, *command: str) -> None:
        log = open(self.folder / "log" / f"{Path(command[0]).name}.out", "w")
        self.daemons.append(subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT))

    def _wait(self, ready, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            for daemon in self.daemons:
                assert daemon.poll() is None, f"{daemon.args[0]} exited {daemon.returncode}\n{self.logs()}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}\n{self.logs()}"
            time.sleep(0.2)

    def _node_idle(self) -> bool:
        return self.run("sinfo", "--noheader", "--format=%t", check=False) == "idle"

    def _config(self) -> str:
        folder = self.folder
        return f"""\
ClusterName=lit_rnn_tests
SlurmctldHost={self.host}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket},cred_expire={CRED_EXPIRE}
StateSaveLocation={folder / "state"}
SlurmdSpoolDir={folder / "spool"}
SlurmctldPidFile={folder / "slurmctld.pid"}
SlurmdPidFile={folder / "slurmd.pid"}
SlurmctldLogFile={folder / "log" / "slurmctld.log"}
SlurmdLogFile={folder / "log" / "slurmd.log"}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=1
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SwitchType=switch/none
ReturnToService=2
KillWait={KILL_WAIT}
MinJobAge=600
JobRequeue=1
NodeName={self.host} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} State=UNKNOWN
PartitionName=tests Nodes={self.host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
"""
