"""SIGTERM and Ctrl-C in every phase of ``python -m lit_rnn.fit``: exit 143 or 130, exactly one ``error:`` line that
says what is saved and how to go on, no traceback, and nothing half-done left behind."""

import os
import signal
import subprocess
import sys
import time

import pytest
from helpers.commands import REPO, reported_accuracy, run_module, tiny_fit_args
from helpers.resume import interrupt

from lit_rnn.runs.checkpointing import read_checkpoint

pytestmark = [pytest.mark.slow, pytest.mark.long]  # every command x phase x signal: make test-long

SIGNALS = {"TERM": signal.SIGTERM, "INT": signal.SIGINT}
# phase -> (how the signal is sent, what the error line says after "Stopped by SIGX")
PHASES = {
    "sanity check": (interrupt(0, "sanity"), "before training began: nothing was trained yet"),
    "training step": (interrupt(13), "after step 14; the training so far is saved in"),
    "validation": (interrupt(10, "validation"), "after step 10; the training so far is saved in"),
    "final test": (interrupt(0, "test"), "after training: the trained model is saved in"),
}


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr[-3000:]
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize("name", SIGNALS)
def test_a_signal_during_start_up_stops_at_once_and_leaves_nothing(name, tiny_mnist, tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "lit_rnn.fit", *tiny_fit_args(tiny_mnist)],
        cwd=tmp_path,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    time.sleep(0.5)  # the imports take seconds
    process.send_signal(SIGNALS[name])
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + SIGNALS[name]
    assert error_lines(stderr) == [
        f"error: Stopped by SIG{name} during start-up, before anything was saved. Run the command again."
    ]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", SIGNALS)
@pytest.mark.parametrize(
    "command",
    [
        ["lit_rnn.predict", "--indices=0"],
        ["lit_rnn.test"],
        ["lit_rnn.export"],
        ["lit_rnn.sweep", f"--config={REPO / 'configs' / 'sweeps' / 'cells.yaml'}"],
    ],
    ids=lambda command: command[0],
)
def test_every_command_handles_a_signal_from_its_first_line(command, name, tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", *command],
        cwd=tmp_path,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    time.sleep(0.5)  # in the imports
    process.send_signal(SIGNALS[name])
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + SIGNALS[name], stderr[-3000:]
    assert error_lines(stderr) == [
        f"error: Stopped by SIG{name} during start-up, before anything was saved. Run the command again."
    ]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", SIGNALS)
@pytest.mark.parametrize("phase", PHASES)
def test_a_signal_in_any_phase_ends_with_its_exit_code_and_one_line(phase, name, tiny_mnist, tmp_path):
    stop, says = PHASES[phase]
    stop = [*stop[:-1], f"--trainer.callbacks.signal={name}"]
    result = run_module("lit_rnn.fit", tiny_fit_args(tiny_mnist, "--trainer.max_epochs=3", *stop), cwd=tmp_path)
    assert result.returncode == 128 + SIGNALS[name], result.stderr[-3000:]
    (line,) = error_lines(result.stderr)
    assert line.startswith(f"error: Stopped by SIG{name} {says}")
    assert "Test accuracy" not in result.stdout  # a scheduler, or a reader, never takes it for a finished run
    run = tmp_path / "lightning_logs" / "version_0"
    if phase == "sanity check":
        assert not run.exists()  # a new run that saved nothing leaves no folder
        return
    assert "--ckpt_path last" in line
    resumed = run_module(
        "lit_rnn.fit", tiny_fit_args(tiny_mnist, "--trainer.max_epochs=3", "--ckpt_path=last"), cwd=tmp_path
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 0 <= reported_accuracy(resumed.stdout) <= 1
    assert [path.name for path in run.parent.iterdir()] == ["version_0"]


def test_the_run_a_signal_cut_short_before_its_test_reports_what_an_uninterrupted_one_does(tiny_mnist, tmp_path):
    (tmp_path / "straight").mkdir()
    (tmp_path / "cut").mkdir()
    args = tiny_fit_args(tiny_mnist, "--trainer.max_epochs=3")
    straight = run_module("lit_rnn.fit", args, cwd=tmp_path / "straight")
    cut = run_module("lit_rnn.fit", [*args, *interrupt(0, "test", "TERM")], cwd=tmp_path / "cut")
    assert cut.returncode == 128 + signal.SIGTERM
    tested = run_module("lit_rnn.fit", [*args, "--ckpt_path=last"], cwd=tmp_path / "cut")
    assert reported_accuracy(tested.stdout) == reported_accuracy(straight.stdout)
    assert "Training took" in tested.stdout


def test_a_run_without_a_seed_goes_on_by_its_stop_line_and_by_its_config(tiny_mnist, tmp_path):
    args = tiny_fit_args(tiny_mnist, "--seed_everything=false", "--trainer.max_epochs=3")
    stopped = run_module("lit_rnn.fit", [*args, *interrupt(5, signal_name="TERM")], cwd=tmp_path)
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr[-3000:]
    assert "same command plus --ckpt_path last" in stopped.stderr
    recovery = tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "recovery.ckpt"
    seed = read_checkpoint(recovery)["MNISTDataModule"]["shuffle_seed"]
    again = run_module("lit_rnn.fit", [*args, *interrupt(12, signal_name="TERM"), "--ckpt_path=last"], cwd=tmp_path)
    assert again.returncode == 128 + signal.SIGTERM, again.stderr[-3000:]
    config = tmp_path / "lightning_logs" / "version_0" / "config.yaml"
    finished = run_module("lit_rnn.fit", [f"--config={config}", "--ckpt_path=last"], cwd=tmp_path)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert 0 <= reported_accuracy(finished.stdout) <= 1
    assert read_checkpoint(recovery)["MNISTDataModule"]["shuffle_seed"] == seed  # the run's own order throughout
