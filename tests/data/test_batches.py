"""The fast path is the reference path, only faster: the same batches as torchvision's ``ToTensor`` and
``DataLoader`` give for the same order, and the same weights after a fit step as a plain PyTorch step on them."""

import torch
from helpers.cli import fit_in_process
from torch.utils.data import DataLoader
from torchvision.datasets import MNIST
from torchvision.transforms import ToTensor

from lit_rnn.data.batches import EpochOrder, TensorBatches
from lit_rnn.data.datamodule import load_images
from lit_rnn.model.networks.recurrent import RecurrentNetwork


def reference_batches(data_dir, order: torch.Tensor, batch_size: int):
    """torchvision's path: each image through PIL and ``ToTensor``, collated by a ``DataLoader``, in ``order``."""
    dataset = MNIST(str(data_dir), train=True, transform=ToTensor())
    for images, labels in DataLoader(dataset, batch_size=batch_size, sampler=order.tolist()):
        yield images.squeeze(1), labels


def test_batches_are_torchvisions_for_the_same_order(tiny_mnist):
    images, labels = load_images(tiny_mnist, train=True)
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
    network = RecurrentNetwork()
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
