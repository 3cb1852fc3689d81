"""Two processes on CPU (DDP over gloo) through the real command line, as Lightning launches them."""

import re
from pathlib import Path

import pytest
import torch
from helpers.commands import checkpoint_accuracy, reported_accuracy, run_module, tiny_fit_args
from helpers.probes import image_digest

from lit_rnn.data.datamodule import MNISTDataModule

pytestmark = pytest.mark.slow

DDP = ["--trainer.strategy=ddp", "--trainer.devices=2", "--trainer.accelerator=cpu"]


@pytest.fixture(scope="module")
def ddp_run(tiny_mnist, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("ddp")
    args = tiny_fit_args(
        tiny_mnist,
        *DDP,
        "--data.batch_size=25",
        "--trainer.max_epochs=10",
        "--trainer.callbacks+=helpers.probes.RecordTrainingImages",
        f"--trainer.callbacks.out_dir={workdir / 'seen'}",
    )
    result = run_module("lit_rnn.fit", args, cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, result


def test_each_training_image_is_seen_once_per_epoch_across_the_ranks(ddp_run, tiny_mnist):
    workdir, _ = ddp_run
    data = MNISTDataModule(str(tiny_mnist), val_size=100)
    data.setup("fit")
    train_images = sorted(image_digest(image.float() / 255) for image in data.splits["train"][0])
    for epoch in (0, 9):
        ranks = [(workdir / "seen" / f"rank{rank}-epoch{epoch}.txt").read_text().split() for rank in (0, 1)]
        assert len(ranks[0]) == len(ranks[1]) == 250
        assert sorted(ranks[0] + ranks[1]) == train_images


def test_test_accuracy_equals_a_one_process_evaluation_of_the_checkpoint(ddp_run, tiny_mnist):
    workdir, result = ddp_run
    assert reported_accuracy(result.stdout) > 0.9
    (best,) = (workdir / "lightning_logs" / "version_0" / "checkpoints").glob("best-*.ckpt")
    assert checkpoint_accuracy(best, tiny_mnist) == pytest.approx(reported_accuracy(result.stdout), abs=5e-5)


def test_logs_and_checkpoints_are_written_once(ddp_run):
    workdir, result = ddp_run
    assert result.stdout.count("Test accuracy on the") == 1
    assert sorted(p.name for p in (workdir / "lightning_logs").iterdir()) == ["version_0"]
    checkpoints = sorted(p.name for p in (workdir / "lightning_logs" / "version_0" / "checkpoints").iterdir())
    assert len(checkpoints) == 3 and {"last.ckpt", "recovery.ckpt"} <= set(checkpoints)


def test_a_distributed_run_resumes_from_its_checkpoint(ddp_run, tiny_mnist):
    workdir, _ = ddp_run
    last = workdir / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    args = tiny_fit_args(tiny_mnist, *DDP, "--data.batch_size=25", "--trainer.max_epochs=12", f"--ckpt_path={last}")
    result = run_module("lit_rnn.fit", args, cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Restoring states from the checkpoint path" in result.stdout + result.stderr
    resumed = Path(result.stdout.split("Logs and checkpoints: ")[1].split()[0])
    assert workdir / resumed == workdir / "lightning_logs" / "version_0"  # a resumed run goes on in its own folder
    checkpoint = torch.load(workdir / resumed / "checkpoints" / "recovery.ckpt", map_location="cpu", weights_only=False)
    # 250 images per rank and epoch at 25 a batch: 10 steps an epoch, and 2 epochs more after the first 10
    assert (checkpoint["epoch"], checkpoint["global_step"]) == (12, 120)


@pytest.mark.parametrize("bug", [False, True], ids=["user error", "bug"])
def test_an_error_in_the_second_process_is_said_once_as_in_one_process(bug, tiny_mnist, tmp_path):
    args = tiny_fit_args(
        tiny_mnist,
        "--trainer.strategy=ddp",
        "--trainer.devices=2",
        "--trainer.accelerator=cpu",
        "--trainer.callbacks+=helpers.probes.FailInProcess",
        "--trainer.callbacks.rank=1",
        f"--trainer.callbacks.bug={str(bug).lower()}",
    )
    result = run_module("lit_rnn.fit", args, cwd=tmp_path)
    assert result.returncode == (1 if bug else 2), result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "SIGTERM" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    if not bug:
        assert line == "error: Planted in process 1 at step 2."
        return
    match = re.fullmatch(
        r"error: this is a bug in lit_rnn: RuntimeError: Planted in process 1 at step 2\. "
        r"The full traceback is in (\S+); please report it\.",
        line,
    )
    assert match, line
    report = Path(match[1]).read_text()
    Path(match[1]).unlink()
    assert "probes.py" in report and "in on_train_batch_start" in report  # the child's own traceback


@pytest.mark.parametrize("strategy", ["ddp_spawn", "ddp_notebook"])
def test_a_strategy_that_starts_its_own_processes_is_refused_naming_the_guarantee_it_breaks(
    strategy, tiny_mnist, tmp_path
):
    args = tiny_fit_args(
        tiny_mnist, f"--trainer.strategy={strategy}", "--trainer.devices=2", "--trainer.accelerator=cpu"
    )
    result = run_module("lit_rnn.fit", args, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert line.startswith(f"error: --trainer.strategy is '{strategy}', but it must be ddp for several processes")
    assert "SIGTERM and Ctrl-C never reach, so a stop cannot save the step in progress" in line
    assert not (tmp_path / "lightning_logs").exists()
