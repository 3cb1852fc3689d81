"""The fast path is the reference path, only faster: the same batches as torchvision's ``ToTensor`` and
``DataLoader`` give for the same order, the same weights after a step as a plain PyTorch step, step metrics
that are their own step's although only computed on the steps Lightning writes; and the fast configs run."""

import pytest
import torch
from conftest import tiny_fit_args
from helpers.cli import cli_in_process, fit_in_process
from lightning.pytorch.callbacks import ProgressBar
from lightning.pytorch.profilers import SimpleProfiler
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.data import DataLoader
from torchvision.datasets import MNIST
from torchvision.transforms import ToTensor

from lit_rnn.cli.lightning_cli import CONFIG_DIR
from lit_rnn.cli.profiling import NoProfiler
from lit_rnn.data.batches import EpochOrder, TensorBatches
from lit_rnn.data.datamodule import load_mnist
from lit_rnn.model.network import RecurrentClassifier


def reference_batches(data_dir, order: torch.Tensor, batch_size: int):
    """torchvision's path: each image through PIL and ``ToTensor``, collated by a ``DataLoader``, in ``order``."""
    dataset = MNIST(str(data_dir), train=True, transform=ToTensor())
    for images, labels in DataLoader(dataset, batch_size=batch_size, sampler=order.tolist()):
        yield images.squeeze(1), labels


def test_batches_are_torchvisions_for_the_same_order(tiny_mnist):
    images, labels = load_mnist(tiny_mnist, train=True)
    fast = TensorBatches(images, labels, batch_size=64, shuffle=True, seed=7)
    fast.sampler.set_epoch(3)
    reference = list(reference_batches(tiny_mnist, fast.sampler.indices(), batch_size=64))
    batches = list(fast)
    assert len(batches) == len(reference) == 10  # 600 images: nine batches of 64, then 24
    for (images, labels), (expected_images, expected_labels) in zip(batches, reference):
        assert images.dtype == expected_images.dtype == torch.float32
        assert torch.equal(images, expected_images) and torch.equal(labels, expected_labels)


def test_a_fit_step_gives_the_weights_of_a_plain_step_on_torchvisions_batch(tiny_mnist, tmp_path, monkeypatch):
    fitted = fit_in_process(tiny_mnist, tmp_path, monkeypatch, "--trainer.max_steps=1")

    # The first batch fit trains on, built the reference way: MNISTDataModule's split (split_seed 0, the first
    # val_size=100 of a permutation held out), then the epoch's order for the run's seed (seed_everything 1).
    train = torch.randperm(600, generator=torch.Generator().manual_seed(0))[100:]
    order = train[EpochOrder(len(train), shuffle=True, seed=1).indices()]
    images, labels = next(reference_batches(tiny_mnist, order, batch_size=50))
    torch.manual_seed(1)
    network = RecurrentClassifier()
    initial = {name: value.clone() for name, value in network.state_dict().items()}
    optimizer = torch.optim.Adam(network.parameters(), lr=0.01, fused=True)  # configs/default.yaml's optimizer
    loss = torch.nn.functional.cross_entropy(network(images), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

    assert fitted.trainer.global_step == 1
    for name, expected in network.state_dict().items():
        assert not torch.equal(expected, initial[name])
        assert torch.equal(fitted.model.network.state_dict()[name], expected), name


def logged_train_losses(run_dir) -> dict[int, float]:
    events = EventAccumulator(str(run_dir)).Reload()
    return {event.step: event.value for event in events.Scalars("train/loss")}


def test_step_metrics_are_logged_every_n_steps_with_their_own_steps_values(tiny_mnist, tmp_path, monkeypatch):
    every_step, every_third = tmp_path / "every_step", tmp_path / "every_third"
    for workdir, cadence in ((every_step, 1), (every_third, 3)):
        workdir.mkdir()
        fit_in_process(
            tiny_mnist, workdir, monkeypatch, "--trainer.max_steps=12", f"--trainer.log_every_n_steps={cadence}"
        )
    all_losses = logged_train_losses(every_step / "lightning_logs" / "version_0")
    sparse = logged_train_losses(every_third / "lightning_logs" / "version_0")
    assert sorted(all_losses) == list(range(12))
    assert len(set(all_losses.values())) == 12  # each step's own loss, none repeated from an earlier step
    assert sorted(sparse) == [2, 5, 8, 11]
    assert sparse == pytest.approx({step: all_losses[step] for step in sparse}, abs=0)


@pytest.mark.parametrize(
    ("extra", "refresh_rate"),
    [
        ([], 20),
        (["--progress_bar_refresh_rate=5"], 5),
        (["--trainer.enable_progress_bar=false"], None),
        (["--trainer.callbacks+=TQDMProgressBar", "--trainer.callbacks.refresh_rate=3"], 3),
    ],
)
def test_progress_bar_redraws_every_20_steps_unless_configured(extra, refresh_rate, tiny_mnist, tmp_path, monkeypatch):
    args = [f"--data.data_dir={tiny_mnist}", *extra]
    bars = [c for c in cli_in_process(tmp_path, monkeypatch, args).trainer.callbacks if isinstance(c, ProgressBar)]
    assert [bar.refresh_rate for bar in bars] == ([] if refresh_rate is None else [refresh_rate])


def test_hooks_are_not_profiled_unless_a_profiler_is_asked_for(tiny_mnist, tmp_path, monkeypatch):
    (tmp_path / "quiet").mkdir(), (tmp_path / "profiled").mkdir()
    quiet = fit_in_process(tiny_mnist, tmp_path / "quiet", monkeypatch, "--trainer.fast_dev_run=1").trainer.profiler
    assert isinstance(quiet, NoProfiler)
    assert quiet.profile("[Strategy]SingleDeviceStrategy.training_step") is quiet.profile("run_training_batch")

    profiled = fit_in_process(
        tiny_mnist, tmp_path / "profiled", monkeypatch, "--trainer.fast_dev_run=1", "--trainer.profiler=simple"
    ).trainer.profiler
    assert isinstance(profiled, SimpleProfiler)
    assert len(profiled.recorded_durations["[Strategy]SingleDeviceStrategy.training_step"]) == 1  # one step, timed


def test_best_config_builds_and_trains_a_step(tiny_mnist, tmp_path, monkeypatch):
    args = ["--config", str(CONFIG_DIR / "best.yaml"), *tiny_fit_args(tiny_mnist), "--trainer.fast_dev_run=1"]
    cli = cli_in_process(tmp_path, monkeypatch, args)
    before = [parameter.detach().clone() for parameter in cli.model.parameters()]
    cli.trainer.fit(cli.model, cli.datamodule)
    assert cli.trainer.global_step == 1
    assert all(not torch.equal(old, new) for old, new in zip(before, cli.model.parameters()))
