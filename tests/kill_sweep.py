"""Kill a run at many moments, resume each with ``--ckpt_path last``, and count how many end bit-identical; or, with
``sweep``, stop a sweep's processes at many moments, run the same sweep command again, and count the studies that end
as an unbroken sweep's.

Not a test (it takes minutes): ``.venv/bin/python tests/kill_sweep.py [sweep]``. Each moment is its own pair of
real ``python -m lit_rnn.fit`` processes on tiny data, the first stopped from inside by
``tests/helpers/interrupt.py``, compared with one uninterrupted run as ``tests/runs/test_exact_resume.py`` compares them:
final weights, optimizer and schedule state, best checkpoint, and every logged scalar. A sweep's moment is a sweep
(two trials) whose worker, fork server, trial fit or worker group gets SIGKILL, SIGTERM or SIGINT while the server
imports, in a trial's start-up, training or final test, or in the final report; then the same command again. It ends
as the unbroken sweep when each setting has one complete trial, in one run folder, with the same final weights,
optimizer state, steps and results, and no process of the first sweep is left.
"""

import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from helpers.commands import run_module, tiny_fit_args
from helpers.mnist import make_mnist
from helpers.resume import STEPS_PER_EPOCH, assert_identical, final_state, fit_args, interrupt, scalars

EPOCHS = 3
MOMENTS = (
    [(f"SIGKILL as step {step} starts", interrupt(step)) for step in range(EPOCHS * STEPS_PER_EPOCH)]
    + [(f"SIGKILL at the epoch boundary at step {step}", interrupt(step, "epoch")) for step in (10, 20)]
    + [
        (f"SIGKILL halfway through the first write at step >= {step}", interrupt(step, "save"))
        for step in (4, 8, 10, 12, 16, 20, 24, 28, 30)
    ]
    + [(f"SIGTERM during step {step}", interrupt(step, signal_name="TERM")) for step in (5, 19)]
    + [(f"SIGINT during step {step}", interrupt(step, signal_name="INT")) for step in (9, 29)]
)


def differences(expected_run: Path, run: Path) -> list[str]:
    found = []
    expected, actual = final_state(expected_run), final_state(run)
    for key in ("state_dict", "optimizer_states", "lr_schedulers", "global_step"):
        try:
            assert_identical(actual[key], expected[key], key)
        except AssertionError as error:
            found.append(str(error) or key)
    if scalars(run) != scalars(expected_run):
        found.append("logged scalars")
    return found


def try_moment(data: Path, root: Path, number: int, what: str, stop: list[str], expected_run: Path) -> tuple[str, str]:
    workdir = root / f"moment{number:02d}"
    workdir.mkdir()
    first = run_module("lit_rnn.fit", fit_args(data, *stop), cwd=workdir)
    resumed = run_module("lit_rnn.fit", fit_args(data, "--ckpt_path", "last"), cwd=workdir)
    if resumed.returncode != 0:
        return what, f"resume exited {resumed.returncode}: {resumed.stderr.strip().splitlines()[-1]}"
    found = differences(expected_run, workdir / "lightning_logs" / "version_0")
    return what, f"first exited {first.returncode}; " + ("bit-identical" if not found else f"DIFFERS: {found}")


def main() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"  # the same thread count in every process
    logging.getLogger("tensorboard").setLevel(logging.ERROR)  # each purge of a resume is announced
    root = Path(tempfile.mkdtemp(prefix="kill_sweep_"))
    data = make_mnist(root / "data")
    (root / "uninterrupted").mkdir()
    assert run_module("lit_rnn.fit", fit_args(data), cwd=root / "uninterrupted").returncode == 0
    expected_run = root / "uninterrupted" / "lightning_logs" / "version_0"
    with ThreadPoolExecutor(2) as pool:
        outcomes = pool.map(
            lambda job: try_moment(data, root, *job, expected_run),
            [(number, what, stop) for number, (what, stop) in enumerate(MOMENTS)],
        )
        identical = 0
        for what, outcome in outcomes:
            identical += outcome.endswith("bit-identical")
            print(f"{what}: {outcome}", flush=True)
    print(f"{len(MOMENTS)} kill points tried, {identical} ended bit-identical (runs in {root})")


SWEEP = """
trainer:
  callbacks:
    - class_path: helpers.interrupt.InterruptAt
      init_args: {step: 5, moment: MOMENT, signal: SIGNAL, target: TARGET, once_file: fired}
sweep:
  study_name: cells
  sampler: grid
  pruner: null
  space:
    model.network.cell: [gru, lstm]
"""
FROM_INSIDE = [  # (target, moment in the trial's fit, signals)
    ("self", "sanity", ("TERM",)),
    ("self", "step", ("KILL", "TERM", "INT")),
    ("self", "test", ("KILL", "TERM")),
    ("server", "step", ("KILL", "TERM")),
    ("server", "test", ("KILL",)),
    ("worker", "step", ("KILL", "TERM", "INT")),
    ("worker", "test", ("KILL", "TERM")),
    ("worker group", "sanity", ("INT",)),
    ("worker group", "step", ("KILL", "TERM", "INT")),
    ("worker group", "test", ("KILL", "TERM", "INT")),
]
FROM_OUTSIDE = [  # (target, phase of the worker, signals)
    ("worker group", "import", ("KILL", "TERM", "INT")),
    ("server", "import", ("KILL",)),
    ("worker group", "report", ("KILL", "TERM")),
]
SWEEP_MOMENTS = [(target, moment, name) for target, moment, names in FROM_INSIDE + FROM_OUTSIDE for name in names]


def sweep_args(data: Path) -> list[str]:
    return ["--config=sweep.yaml", *tiny_fit_args(data, "--trainer.max_epochs=1")]


def processes_of_session(session: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def children_of(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""  # it has ended


def stop_from_outside(worker: subprocess.Popen, output: list[str], target: str, phase: str, signum: int) -> None:
    """While the fork server imports (it is the worker's child, with no child yet), or once the worker prints its
    report's table."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and worker.poll() is None:
        servers = [pid for pid in children_of(worker.pid) if "fork_server" in command_of(pid)]
        if phase == "import" and servers and not children_of(servers[0]):
            time.sleep(0.5)  # well into its imports, which take seconds
            os.kill(servers[0], signum) if target == "server" else os.killpg(worker.pid, signum)
            return
        if phase == "report" and any("trials in sweeps" in line for line in output):
            os.killpg(worker.pid, signum)
            return
        time.sleep(0.02)


def sweep_outcome(workdir: Path) -> dict:
    """Each complete trial's settings: its run's final state and results; and the run folders of the study (a retried
    trial goes on in the run of the trial it retries: no other)."""
    import optuna

    from lit_rnn.runs import results

    storage = f"sqlite:///{workdir / 'sweeps' / 'cells' / 'study.db'}"
    study = optuna.load_study(study_name="cells", storage=storage)
    complete = [trial for trial in study.get_trials() if trial.state == optuna.trial.TrialState.COMPLETE]
    outcome = {"runs": sorted(run.name for run in workdir.glob("sweeps/cells/trial_*/version_*"))}  # one each
    for trial in complete:
        key = str(trial.params)
        assert key not in outcome, f"{key} completed twice"
        run = workdir / trial.user_attrs["run"]
        metrics = results.read(run)["metrics"]
        outcome[key] = (final_state(run), {name: metrics[name] for name in ("val/acc_best", "test/acc")}, trial.value)
    return outcome


def sweep_differences(expected: dict, actual: dict) -> list[str]:
    if expected.keys() != actual.keys():
        return [f"settings or runs differ: {sorted(set(expected) ^ set(actual))}"]
    found = [] if expected["runs"] == actual["runs"] else [f"runs {actual['runs']}"]
    for key in expected.keys() - {"runs"}:
        (state, metrics, value), (expected_state, expected_metrics, expected_value) = actual[key], expected[key]
        for part in ("state_dict", "optimizer_states", "global_step"):
            try:
                assert_identical(state[part], expected_state[part], part)
            except AssertionError:
                found.append(f"{key} {part}")
        if (metrics, value) != (expected_metrics, expected_value):
            found.append(f"{key} results {metrics} {value}")
    return found


def try_sweep_moment(data: Path, root: Path, number: int, moment: tuple[str, str, str], expected: dict) -> str:
    target, phase, name = moment
    workdir = root / f"sweep{number:02d}"
    workdir.mkdir()
    inside = phase not in ("import", "report")
    (workdir / "sweep.yaml").write_text(
        SWEEP.replace("MOMENT", phase if inside else "step").replace("SIGNAL", name).replace("TARGET", target)
    )
    if not inside:
        (workdir / "fired").touch()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    worker = subprocess.Popen(
        [sys.executable, "-m", "lit_rnn.sweep", *sweep_args(data)],
        cwd=workdir,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a terminal's job: the worker leads its process group and its session
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(worker.stdout), daemon=True)
    reader.start()
    if not inside:
        stop_from_outside(worker, output, target, phase, getattr(signal, f"SIG{name}"))
    stderr = worker.stderr.read()
    worker.wait()
    time.sleep(1)
    left = processes_of_session(worker.pid)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    first = f"first exited {worker.returncode}{f' ({errors[-1][:90]}...)' if errors else ''}"
    if "Traceback" in stderr or "this is a bug" in stderr:
        return f"{first}; FAILS: {stderr.strip().splitlines()[-1]}"
    again = run_module("lit_rnn.sweep", sweep_args(data), cwd=workdir)
    if again.returncode != 0:
        return f"{first}; again exited {again.returncode}: {again.stderr.strip().splitlines()[-1]}"
    found = sweep_differences(expected, sweep_outcome(workdir))
    found += [f"{len(left)} processes of the first sweep left"] if left else []
    return f"{first}; " + ("as the unbroken sweep" if not found else f"DIFFERS: {found}")


def sweep_main() -> None:
    logging.getLogger("tensorboard").setLevel(logging.ERROR)
    root = Path(tempfile.mkdtemp(prefix="kill_sweep_"))
    data = make_mnist(root / "data")
    (root / "unbroken").mkdir()
    (root / "unbroken" / "sweep.yaml").write_text(
        SWEEP.replace("MOMENT", "step").replace("SIGNAL", "KILL").replace("TARGET", "self")
    )
    (root / "unbroken" / "fired").touch()
    unbroken = run_module("lit_rnn.sweep", sweep_args(data), cwd=root / "unbroken")
    assert unbroken.returncode == 0, unbroken.stderr[-3000:]
    expected = sweep_outcome(root / "unbroken")
    chosen = [int(number) for number in sys.argv[2:]] or range(len(SWEEP_MOMENTS))
    ended_as_unbroken = 0
    for number in chosen:
        outcome = try_sweep_moment(data, root, number, SWEEP_MOMENTS[number], expected)
        ended_as_unbroken += outcome.endswith("as the unbroken sweep")
        print(f"{number}: {' '.join(SWEEP_MOMENTS[number])}: {outcome}", flush=True)
    print(f"{len(chosen)} sweep moments tried, {ended_as_unbroken} ended as the unbroken sweep (in {root})")


if __name__ == "__main__":
    sweep_main() if sys.argv[1:2] == ["sweep"] else main()
