"""Crash-proof training: a run killed or signalled at any moment and resumed with ``--ckpt_path last``
ends bit-identical to an uninterrupted one, and bad checkpoints are refused with one clear message.

The interrupted run is one chain of real ``python -m lit_rnn.fit`` processes, each stopped from inside at a
precise moment by ``tests/helpers/interrupt.py`` and resumed by the next. The run has dropout (random draws) and a
OneCycleLR schedule whose length depends on the number of steps.
"""

import os
import shutil
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.commands import run_module
from helpers.resume import STEPS_PER_EPOCH, assert_identical, final_state, fit_args, interrupt, scalars
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from lit_rnn.fit import main
from lit_rnn.runs.checkpointing import PARTIAL_SUFFIX, CheckpointError, RandomState, read_checkpoint, write_atomically
from lit_rnn.runs.folders import newest_valid_checkpoint

# Each process of the interrupted run: how it is stopped, and the exit code it must end with.
CHAIN = [
    ("SIGKILL as step 0 starts", interrupt(0), -signal.SIGKILL),
    ("SIGKILL in the middle of step 7", interrupt(7), -signal.SIGKILL),
    ("SIGKILL at the epoch boundary, after the epoch's checkpoints", interrupt(10, "epoch"), -signal.SIGKILL),
    ("SIGTERM during step 13", interrupt(13, signal_name="TERM"), 128 + signal.SIGTERM),
    ("SIGKILL halfway through the first checkpoint write at an epoch's end", interrupt(20, "save"), -signal.SIGKILL),
    ("SIGINT (Ctrl-C) during step 26", interrupt(26, signal_name="INT"), 128 + signal.SIGINT),
    ("no interruption: the run finishes", [], 0),
]


@pytest.fixture(scope="module")
def runs(tiny_mnist, tmp_path_factory):
    """The uninterrupted run's folder, and the interrupted run's folder with what each of its processes left."""
    with pytest.MonkeyPatch.context() as env, ThreadPoolExecutor(1) as beside:
        env.setenv("OMP_NUM_THREADS", "1")  # the same thread count in every process, and no oversubscription
        straight = tmp_path_factory.mktemp("uninterrupted")
        uninterrupted = beside.submit(run_module, "lit_rnn.fit", fit_args(tiny_mnist), cwd=straight)

        workdir, after = tmp_path_factory.mktemp("interrupted"), []
        run = workdir / "lightning_logs" / "version_0"
        for number, (_, stop, _) in enumerate(CHAIN):
            temp = tmp_path_factory.mktemp("system_temp")
            env.setenv("TMPDIR", str(temp))
            resume = ["--ckpt_path", "last"] if number else []
            result = run_module("lit_rnn.fit", fit_args(tiny_mnist, *stop, *resume), cwd=workdir)
            checkpoints = run / "checkpoints"
            after.append(
                {
                    "result": result,
                    "system_temp": sorted(temp.rglob("*")),
                    "partials": sorted(path.name for path in checkpoints.glob(f".*{PARTIAL_SUFFIX}")),
                    "unreadable": [path.name for path in checkpoints.glob("*.ckpt") if not readable(path)],
                    "recovery_step": read_checkpoint(checkpoints / "recovery.ckpt")["global_step"],
                    "newest_step": newest_valid_checkpoint(run)[1]["global_step"],
                    "config": (run / "config.yaml").read_bytes(),
                }
            )
        result = uninterrupted.result()
        assert result.returncode == 0, result.stderr[-3000:]
    return straight / "lightning_logs" / "version_0", run, after


def readable(path: Path) -> bool:
    try:
        read_checkpoint(path)
    except CheckpointError:
        return False
    return True


@pytest.mark.slow  # the chain of killed and resumed fit processes
def test_every_process_of_the_interrupted_run_ends_as_its_interruption_says(runs):
    _, _, after = runs
    for (what, _, code), process in zip(CHAIN, after):
        assert process["result"].returncode == code, f"{what}: {process['result'].stderr[-3000:]}"


@pytest.mark.slow  # the chain of killed and resumed fit processes
def test_interrupted_run_ends_with_bit_identical_weights_and_optimizer(runs):
    straight, interrupted, _ = runs
    expected, actual = final_state(straight), final_state(interrupted)
    assert actual["global_step"] == expected["global_step"] == 3 * STEPS_PER_EPOCH
    for key in ("state_dict", "optimizer_states", "lr_schedulers"):
        assert_identical(actual[key], expected[key], key)
    (best,) = [state for key, state in expected["callbacks"].items() if key.startswith("RunCheckpoint")]
    (resumed_best,) = [state for key, state in actual["callbacks"].items() if key.startswith("RunCheckpoint")]
    assert Path(resumed_best["best_model_path"]).name == Path(best["best_model_path"]).name
    assert Path(resumed_best["best_model_path"]).parent == interrupted / "checkpoints"
    assert_identical(resumed_best["best_model_score"], best["best_model_score"])


@pytest.mark.slow  # the chain of killed and resumed fit processes
def test_logged_metrics_are_identical_with_no_duplicated_or_missing_step(runs):
    straight, interrupted, _ = runs
    expected, actual = scalars(straight), scalars(interrupted)
    assert {"train/loss", "val/acc", "val/acc_best", "lr-Adam", "test/acc"} <= set(expected)
    assert (
        actual == expected
    )  # so no step is missing or logged twice (Lightning itself logs "epoch" twice at a validation step)
    for tag, points in actual.items():
        steps = [step for step, _ in points]
        assert steps == sorted(steps), f"{tag} zig-zags"


@pytest.mark.slow  # the chain of killed and resumed fit processes
def test_each_resume_continues_from_the_newest_checkpoint_and_purges_the_steps_logged_after_it(runs):
    _, interrupted, after = runs
    # The newest checkpoint after each process: step 0; the save at step 4 (the kill mid-step 7 lost 5 and 6); the
    # epoch's end; the step SIGTERM arrived in; 16 (the kill cut off the writes at step 20); the Ctrl-C step; the end.
    assert [process["newest_step"] for process in after] == [0, 4, 10, 14, 16, 27, 30]
    purges = [
        event.step
        for path in sorted(interrupted.glob("events.out.tfevents.*"))
        for event in EventFileLoader(str(path)).Load()
        if event.HasField("session_log") and event.session_log.status == event.session_log.START
    ]
    assert purges == [0, 4, 10, 14, 16, 27]


@pytest.mark.slow  # the chain of killed and resumed fit processes
def test_sigterm_and_ctrl_c_save_the_step_they_arrive_in_then_say_how_to_continue(runs):
    _, _, after = runs
    for index, signal_name, step in ((3, "SIGTERM", 13), (5, "SIGINT", 26)):
        process = after[index]
        assert process["recovery_step"] == step + 1  # the step the signal arrived in was finished and saved
        assert (
            f"error: Stopped by {signal_name} after step {step + 1}; the training so far is saved"
            in process["result"].stderr
        )
        assert "--ckpt_path last" in process["result"].stderr
        assert "Traceback" not in process["result"].stderr


@pytest.mark.slow  # the chain of killed and resumed fit processes
def test_a_kill_during_a_save_leaves_complete_checkpoints_and_nothing_in_the_system_temp_folder(runs):
    _, _, after = runs
    killed, resumed = after[4], after[5]
    assert killed["partials"], "the write that was cut off is a hidden .partial file"
    assert all(process["unreadable"] == [] for process in after)  # every .ckpt is always whole
    assert all(process["system_temp"] == [] for process in after)
    assert resumed["partials"] == []  # removed by the resume


@pytest.mark.slow  # the chain of killed and resumed fit processes
def test_resumes_continue_the_same_run_folder_and_keep_its_config(runs):
    _, interrupted, after = runs
    assert [path.name for path in interrupted.parent.iterdir()] == ["version_0"]
    assert all(process["config"] == after[0]["config"] for process in after)
    assert b"ckpt_path: null" in after[0]["config"]


# A signal in the very last step: the run has nothing left to train, and its state must be the finished run's.
LAST_STEP = {
    "of the last epoch": ([], 3 * STEPS_PER_EPOCH - 1),
    "before max_steps, mid-epoch": (["--trainer.max_steps=25"], 24),
}


@pytest.mark.slow  # three fit processes a case
@pytest.mark.parametrize("case", LAST_STEP)
def test_a_run_stopped_in_its_last_step_ends_in_the_state_of_a_run_never_stopped(case, tiny_mnist, tmp_path):
    """Issue 30: a stop at the end of the last epoch saved the state before Lightning counts the epoch done, so the
    resumed run, which had nothing left to train, ended with its epoch one lower than the run never stopped."""
    options, step = LAST_STEP[case]
    (tmp_path / "straight").mkdir()
    (tmp_path / "stopped").mkdir()
    straight = run_module("lit_rnn.fit", fit_args(tiny_mnist, *options), cwd=tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr[-3000:]
    stopped = run_module(
        "lit_rnn.fit", fit_args(tiny_mnist, *options, *interrupt(step, signal_name="TERM")), cwd=tmp_path / "stopped"
    )
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr[-3000:]
    assert "error: Stopped by SIGTERM after training: the trained model is saved" in stopped.stderr
    resumed = run_module("lit_rnn.fit", fit_args(tiny_mnist, *options, "--ckpt_path=last"), cwd=tmp_path / "stopped")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    expected = final_state(tmp_path / "straight" / "lightning_logs" / "version_0")
    actual = final_state(tmp_path / "stopped" / "lightning_logs" / "version_0")
    for key in ("state_dict", "optimizer_states", "lr_schedulers", "global_step", "epoch", "loops"):
        assert_identical(actual[key], expected[key], key)


# Bad checkpoints and nothing to resume: refused before anything is built, in-process for speed.


@pytest.fixture(scope="module")
def good_checkpoint(runs) -> Path:
    straight, _, _ = runs
    return straight / "checkpoints" / "recovery.ckpt"


class Evil:
    def __reduce__(self):
        return os.system, (f"touch {Path.cwd() / 'PWNED'}",)


def write_bad(kind: str, good: Path, path: Path) -> str:
    """Write a bad checkpoint of the given kind; returns the phrase its error must contain."""
    if kind == "truncated":
        path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
        return "is truncated"
    if kind == "empty":
        path.write_bytes(b"")
        return "is empty"
    if kind == "not a checkpoint":
        path.write_text("step,loss\n1,2.3\n")
        return "is not a PyTorch checkpoint file"
    if kind == "weights only":
        torch.save(read_checkpoint(good)["state_dict"], path)
        return "is not a lit_rnn training checkpoint: it lacks state_dict, loops"
    if kind == "crafted to run code":
        torch.save({**read_checkpoint(good), "payload": Evil()}, path)
        return "was refused: it holds Python objects (posix.system) that could run code"
    raise ValueError(kind)


@pytest.fixture
def in_process(tmp_path, monkeypatch) -> Path:
    """Run ``main`` here as if from the command line, in an empty folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lit_rnn.fit"])
    return tmp_path


def refused(capsys, args: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error
    return error


@pytest.mark.slow  # the chain of killed and resumed fit processes
@pytest.mark.parametrize("kind", ["truncated", "empty", "not a checkpoint", "weights only", "crafted to run code"])
def test_a_bad_checkpoint_is_refused_with_one_clear_message(kind, good_checkpoint, tiny_mnist, in_process, capsys):
    bad = in_process / "bad.ckpt"
    phrase = write_bad(kind, good_checkpoint, bad)
    error = refused(capsys, fit_args(tiny_mnist, "--ckpt_path", str(bad)))
    assert f"The checkpoint {bad} {phrase}" in error and "--ckpt_path" in error
    assert sorted(path.name for path in in_process.iterdir()) == ["bad.ckpt"]  # no run folder, nothing executed


@pytest.mark.slow  # the chain of killed and resumed fit processes
def test_a_checkpoint_of_another_architecture_is_refused(good_checkpoint, tiny_mnist, in_process, capsys):
    error = refused(capsys, fit_args(tiny_mnist, "--model.network.hidden_size=32", "--ckpt_path", str(good_checkpoint)))
    assert (
        "The resume would train another network than the run did: --model.network.hidden_size 32 (the run's: 16)"
        in error
    )
    assert list(in_process.iterdir()) == []


def test_last_with_nothing_to_resume_says_so(tiny_mnist, in_process, capsys):
    nothing = "There is no checkpoint to use as 'last': no run under lightning_logs holds one"
    assert nothing in refused(capsys, fit_args(tiny_mnist, "--ckpt_path", "last"))
    (in_process / "lightning_logs" / "version_0" / "checkpoints").mkdir(parents=True)
    (in_process / "lightning_logs" / "version_1").mkdir()
    assert nothing in refused(capsys, fit_args(tiny_mnist, "--ckpt_path", "last"))


@pytest.mark.slow  # the chain of killed and resumed fit processes
def test_last_passes_over_a_corrupt_newest_checkpoint_saying_so(runs, tiny_mnist, in_process, capsys):
    straight, _, _ = runs
    run = in_process / "lightning_logs" / "version_0"
    shutil.copytree(straight, run)
    newest = run / "checkpoints" / "recovery.ckpt"
    newest.write_bytes(newest.read_bytes()[:1000])
    os.utime(newest)  # the newest by far
    metrics = main(fit_args(tiny_mnist, "--ckpt_path", "last"))
    error = capsys.readouterr().err
    assert f"warning: {Path('lightning_logs/version_0/checkpoints/recovery.ckpt')} is truncated" in error
    assert f"using {Path('lightning_logs/version_0/checkpoints')}" in error
    assert 0 <= metrics["test/acc"] <= 1


# The parts on their own.


def test_an_interrupted_write_keeps_the_old_file_and_leaves_nothing(tmp_path):
    path = tmp_path / "last.ckpt"
    path.write_bytes(b"old")

    def fail_halfway(handle):
        handle.write(b"new but")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(path, fail_halfway)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]
    write_atomically(path, lambda handle: handle.write(b"new"))
    assert path.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_random_state_round_trips_through_a_safely_loaded_checkpoint(tmp_path):
    import random

    saved = RandomState().state_dict()
    expected = (torch.rand(3), random.random(), np.random.rand())
    torch.save({"random": saved}, tmp_path / "state.ckpt")
    restored = RandomState()
    restored.load_state_dict(torch.load(tmp_path / "state.ckpt", weights_only=True)["random"])
    restored.on_train_start(None, None)
    actual = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(actual[0], expected[0]) and actual[1:] == expected[1:]
