"""Two processes on CPU (DDP over gloo) through the real command line, as Lightning launches them."""

from pathlib import Path

import pytest
import torch
from conftest import checkpoint_accuracy, reported_accuracy, run_module, tiny_fit_args
from probes import image_digest

from lit_rnn.data import MNISTDataModule

pytestmark = pytest.mark.slow

DDP = ["--trainer.strategy=ddp", "--trainer.devices=2", "--trainer.accelerator=cpu"]
@pytest.fixture(scope="module")
def ddp_run(tiny_mnist, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("ddp")
    args = tiny_fit_args(
        tiny_mnist, *DDP, "--data.batch_size=25", "--trainer.max_epochs=10",
        "--trainer.callbacks+=probes.RecordTrainingImages", f"--trainer.callbacks.out_dir={workdir / 'seen'}",
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
