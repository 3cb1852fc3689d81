"""The checks of a lent GPU in one command, printed as one JSON object; it runs on a CPU too.

Usage: python benchmarks/gpu_check.py [--data-dir ../shared/data] [--accelerator auto] [--quick]

- ``default_fit``: the default fit's epoch (its training steps, timed as ``epoch_time.py`` times them) and its test
  accuracy. The goal on a GPU: an epoch in at most 1.0 s.
- ``best``: ``configs/best.yaml`` (bfloat16 where the device has it): its training seconds, test accuracy, and
  whether it reached 0.990. The goal on a GPU: 99% in at most 10 s.
- ``kill_resume``: a fit SIGKILLed just after its recovery checkpoint saved a step mid-epoch, resumed with
  ``--ckpt_path last``, against the same fit never killed: whether every tensor of their ``last.ckpt`` is equal.
- ``predict``: ``lit_rnn.predict`` on the default run's first 10 test images: its seconds and answers right.
- ``serve``: ``serve_load.py``'s table for the default run's best checkpoint.

A check that fails is reported with its error, and the others still run, so that one run of the device's minutes
gives every figure it can. ``--quick`` trains a few batches of each, to check the script, not to report figures.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from epoch_time import run_fit
from harness import REPO, add_data_dir, check_data_dir, fit_path

QUICK = ["--trainer.limit_train_batches=30", "--trainer.limit_val_batches=2", "--trainer.limit_test_batches=2"]
TARGET = 0.990
FIT_TIMEOUT = 300  # seconds: each fit here takes a minute at most on two CPU cores


def fit(args: argparse.Namespace, cwd: Path, *extra: str) -> tuple[subprocess.CompletedProcess, Path]:
    """``python -m lit_rnn.fit`` in ``cwd``; its run folder."""
    command = [sys.executable, "-m", "lit_rnn.fit", f"--data.data_dir={args.data_dir}", *_where(args), *extra]
    result = subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=FIT_TIMEOUT)
    if result.returncode != 0:
        raise RuntimeError(f"fit ended with {result.returncode}: {result.stderr[-1500:]}")
    return result, cwd / result.stdout.split("Logs and checkpoints: ")[1].split()[0]


def default_fit(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    result = run_fit(args, workdir, *args.limits)
    return {key: result[key] for key in ("train_seconds", "test_acc", "process_seconds", "cuda_peak_mib")}


def best(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    cwd = workdir / "best"
    cwd.mkdir()
    quick = ["--trainer.max_epochs=1", "--trainer.check_val_every_n_epoch=1"] if args.quick else []
    _, run = fit(args, cwd, f"--config={REPO / 'configs' / 'best.yaml'}", *args.limits, *quick)
    results = json.loads((run / "results.json").read_text())
    accuracy = results["metrics"]["test/acc"]
    return {"train_seconds": results["train_seconds"], "test_acc": accuracy, "reached_0.990": accuracy >= TARGET}


def kill_resume(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    every = 10 if args.quick else 200  # a save mid-epoch, after some steps of the first
    settings = ["--trainer.max_epochs=2", f"--recovery.every_n_steps={every}", *args.limits]
    whole, killed = workdir / "whole", workdir / "killed"
    whole.mkdir(), killed.mkdir()
    _, whole_run = fit(args, whole, *settings)
    command = [sys.executable, "-m", "lit_rnn.fit", f"--data.data_dir={args.data_dir}", *_where(args), *settings]
    process = subprocess.Popen(command, cwd=killed, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    recovery = killed / "lightning_logs" / "version_0" / "checkpoints" / "recovery.ckpt"
    first_save = _wait_for(lambda: recovery.is_file() and recovery.stat().st_mtime_ns, process)
    _wait_for(lambda: recovery.is_file() and recovery.stat().st_mtime_ns != first_save, process)
    process.send_signal(signal.SIGKILL)  # just after the save of a step mid-epoch: the steps since are lost
    process.wait()
    killed_at = torch.load(recovery, weights_only=True, map_location="cpu")["global_step"]
    _, resumed_run = fit(args, killed, *settings, "--ckpt_path=last")
    mine, theirs = (_last_weights(run) for run in (resumed_run, whole_run))
    different = [name for name in theirs if not torch.equal(mine[name], theirs[name])]
    return {"killed_after_step": killed_at, "weights_identical": not different, "tensors_different": different}


def _last_weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]


def predict(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "lit_rnn.predict", "--indices", "0-9", "--format", "json"]
    started = time.perf_counter()
    result = subprocess.run(
        [*command, "--data.data_dir", str(args.data_dir)], cwd=workdir, env=_env(), capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"predict ended with {result.returncode}: {result.stderr[-1500:]}")
    answers = json.loads(result.stdout)["predictions"]
    return {"process_seconds": seconds, "right": sum(answer["label"] == answer["digit"] for answer in answers)}


def serve(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    seconds = ["--seconds", "10", "--clients", "8"] if args.quick else ["--seconds", "20"]
    command = [sys.executable, str(Path(__file__).with_name("serve_load.py")), "--data-dir", str(args.data_dir)]
    result = subprocess.run([*command, *seconds], cwd=workdir, env=_env(), capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        said = [
            line for line in result.stderr.splitlines() if line.startswith(("error", "Traceback")) or "Error" in line
        ]
        raise RuntimeError(f"serve_load.py ended with {result.returncode}: {said[-5:]} {result.stderr[-500:]}")
    return {"table": [line for line in result.stdout.splitlines() if line.startswith("| ")]}


CHECKS: dict[str, Callable[[argparse.Namespace, Path], dict[str, Any]]] = {
    "default_fit": default_fit,  # first: predict and serve use its run
    "best": best,
    "kill_resume": kill_resume,
    "predict": predict,
    "serve": serve,
}


def _where(args: argparse.Namespace) -> list[str]:
    return [f"--trainer.accelerator={args.accelerator}", "--trainer.devices=1", "--progress_bar_refresh_rate=0"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": fit_path()}


def _wait_for(condition: Callable[[], Any], process: subprocess.Popen, timeout: float = FIT_TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"fit ended (exit {process.returncode}) before its recovery checkpoint saved a step")
        time.sleep(0.01)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_dir(parser)
    parser.add_argument("--accelerator", choices=("cpu", "gpu", "auto"), default="auto", help="(default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="a few batches of each: a check of the script")
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)  # epoch_time's run_fit reads it
    args = parser.parse_args()
    args.data_dir = args.data_dir.resolve()
    check_data_dir(args.data_dir)
    args.limits = QUICK if args.quick else []
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU",
        "torch": torch.__version__,
        "quick": args.quick,
    }
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as folder:
        for name, check in CHECKS.items():
            started = time.perf_counter()
            try:
                report[name] = check(args, Path(folder))
            except (Exception, SystemExit) as error:  # noqa: BLE001 (every check reports, whatever failed)
                report[name] = {"error": str(error)[-2000:]}
            report[name]["check_seconds"] = round(time.perf_counter() - started, 1)
            print(f"{name}: {json.dumps(report[name])}", file=sys.stderr, flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
