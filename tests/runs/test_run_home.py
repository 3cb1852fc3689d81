"""Every run has one home: resumed from anywhere it tests its own best checkpoint, it has one live owner, and runs
that end without a best checkpoint are tested on their final weights and leave nothing that hides the others."""

import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers.commands import reported_accuracy, run_module, snapshot, tiny_fit_args

pytestmark = [pytest.mark.slow, pytest.mark.long]  # each case a fit process or two: make test-long

CHECKPOINTS = Path("lightning_logs") / "version_0" / "checkpoints"


@pytest.fixture(scope="module")
def finished_run(tiny_mnist, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    workspace = tmp_path_factory.mktemp("finished")
    result = run_module("lit_rnn.fit", tiny_fit_args(tiny_mnist), cwd=workspace)
    assert result.returncode == 0, result.stderr[-3000:]
    return workspace, result


def test_a_run_resumed_from_another_folder_tests_its_own_best_checkpoint(finished_run, tiny_mnist, tmp_path):
    workspace, first = finished_run
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # A run of its own in the folder the command starts from, whose best checkpoint has the very same name.
    other = run_module("lit_rnn.fit", tiny_fit_args(tiny_mnist, "--seed_everything=7"), cwd=elsewhere)
    (other_best,) = (elsewhere / CHECKPOINTS).glob("best-*.ckpt")
    (best,) = (workspace / CHECKPOINTS).glob("best-*.ckpt")
    other_best.rename(other_best.with_name(best.name))
    assert reported_accuracy(other.stdout) != reported_accuracy(first.stdout)
    before = snapshot(elsewhere)
    resumed = run_module(
        "lit_rnn.fit",
        tiny_fit_args(tiny_mnist, f"--ckpt_path={workspace / CHECKPOINTS / 'recovery.ckpt'}"),
        cwd=elsewhere,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"(best checkpoint, {best})" in resumed.stdout
    assert reported_accuracy(resumed.stdout) == reported_accuracy(first.stdout)
    assert f"Logs and checkpoints: {workspace / 'lightning_logs' / 'version_0'}" in resumed.stdout
    assert snapshot(elsewhere) == before  # the run went on in its own folder


def test_a_run_has_one_live_owner_and_a_second_resume_is_refused(finished_run, tiny_mnist, tmp_path):
    workspace = tmp_path / "busy"
    shutil.copytree(finished_run[0], workspace)
    flag = tmp_path / "paused"
    args = tiny_fit_args(tiny_mnist, "--trainer.max_epochs=4", "--recovery.every_n_steps=3", "--ckpt_path=last")
    pause = [
        "--trainer.callbacks+=helpers.probes.PauseAt",
        "--trainer.callbacks.step=22",
        "--trainer.callbacks.seconds=15",
        f"--trainer.callbacks.flag={flag}",
    ]
    with ThreadPoolExecutor(1) as beside:
        owner = beside.submit(run_module, "lit_rnn.fit", [*args, *pause], workspace)
        while not flag.exists():
            assert not owner.done(), owner.result().stderr[-3000:]
            time.sleep(0.2)
        staged = sorted(path.name for path in (workspace / CHECKPOINTS).glob(".*"))
        second = run_module("lit_rnn.fit", args, cwd=workspace)
        assert sorted(path.name for path in (workspace / CHECKPOINTS).glob(".*")) == staged  # the owner's writes
        first = owner.result()
    assert second.returncode == 2
    (line,) = [line for line in second.stderr.splitlines() if line.startswith("error:")]
    assert f"{Path('lightning_logs') / 'version_0'} is in use by process " in line and "Traceback" not in second.stderr
    assert first.returncode == 0, first.stderr[-3000:]
    assert len(writers(workspace) - writers(finished_run[0])) == 1  # the owner's process: none from the refused one


def writers(workspace: Path) -> set[str]:
    """The processes that wrote event files into the run (TensorBoard names them by process id)."""
    return {path.name.split(".")[-2] for path in (workspace / "lightning_logs" / "version_0").glob("events.*")}


WITHOUT_BEST = {
    "less than an epoch": ["--trainer.max_steps=5"],
    "no epochs": ["--trainer.max_epochs=0"],
    "no validation": ["--trainer.limit_val_batches=0"],
    "no best kept": ["--checkpoint.save_top_k=0"],
    "a smoke test": ["--trainer.fast_dev_run=true"],
}


@pytest.mark.parametrize("case", WITHOUT_BEST)
def test_a_run_without_a_best_checkpoint_is_tested_on_its_final_weights_and_hides_no_run(
    case, finished_run, tiny_mnist, tmp_path
):
    workspace = tmp_path / "work"
    shutil.copytree(finished_run[0], workspace)
    before = snapshot(workspace)
    result = run_module("lit_rnn.fit", tiny_fit_args(tiny_mnist, *WITHOUT_BEST[case]), cwd=workspace)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "(the final weights: the run saved no best checkpoint)" in result.stdout
    after = snapshot(workspace)
    assert {name: after[name] for name in before} == before
    assert all(name.startswith("lightning_logs/version_1/") for name in set(after) - set(before))
    resumed = run_module(
        "lit_rnn.fit", tiny_fit_args(tiny_mnist, "--trainer.max_epochs=3", "--ckpt_path=last"), cwd=workspace
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]


def test_a_run_without_a_logger_keeps_its_config_and_checkpoints_in_its_own_folder(tiny_mnist, tmp_path):
    result = run_module("lit_rnn.fit", tiny_fit_args(tiny_mnist, "--trainer.logger=false"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [path.name for path in tmp_path.iterdir()] == ["lightning_logs"]
    run = tmp_path / "lightning_logs" / "version_0"
    assert (run / "config.yaml").is_file() and (run / "checkpoints" / "recovery.ckpt").is_file()
    assert not list(run.glob("events.*"))
    again = run_module("lit_rnn.fit", tiny_fit_args(tiny_mnist, "--trainer.logger=false"), cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (tmp_path / "lightning_logs" / "version_1" / "config.yaml").is_file()
