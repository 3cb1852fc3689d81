import pytest
import torch
from conftest import IDX_NAMES, make_mnist

from lit_rnn.batches import TensorBatches
from lit_rnn.data import DataError, MNISTDataModule, load_mnist


def setup_data(data_dir, **kwargs) -> MNISTDataModule:
    data = MNISTDataModule(data_dir=str(data_dir), **kwargs)
    data.prepare_data()
    data.setup("fit")
    return data


def test_split_sizes_and_test_set(tiny_mnist):
    data = setup_data(tiny_mnist, val_size=100)
    assert len(data.splits["train"][1]) == 500
    assert len(data.splits["val"][1]) == 100
    assert len(data.splits["test"][1]) == 200


def test_split_is_the_same_every_time_and_disjoint(tiny_mnist):
    first, second = setup_data(tiny_mnist, val_size=100), setup_data(tiny_mnist, val_size=100)
    for split in ("train", "val"):
        assert torch.equal(first.splits[split][0], second.splits[split][0])
    train, val = first.splits["train"][0].flatten(1), first.splits["val"][0].flatten(1)
    images = load_mnist(tiny_mnist, train=True)[0].flatten(1)
    # together the two splits are a permutation of the official training set
    assert sorted(map(bytes, torch.cat([train, val]).numpy())) == sorted(map(bytes, images.numpy()))
    assert not torch.equal(setup_data(tiny_mnist, val_size=100, split_seed=1).splits["val"][0], first.splits["val"][0])


def test_batches_shapes_dtypes_and_range(tiny_mnist):
    data = setup_data(tiny_mnist, val_size=100, batch_size=64)
    images, labels = next(iter(data.train_dataloader()))
    assert images.shape == (64, 28, 28) and images.dtype == torch.float32
    assert labels.shape == (64,) and labels.dtype == torch.int64
    assert 0.0 <= images.min() and images.max() <= 1.0 and images.max() == 1.0
    # scaled exactly as torchvision's ToTensor scales uint8 pixels
    raw = load_mnist(tiny_mnist, train=False)[0]
    test_images, _ = next(iter(data.test_dataloader()))
    assert torch.equal(test_images, raw[: len(test_images)].float() / 255)


def test_every_training_image_once_per_epoch_and_a_new_order_each_epoch(tiny_mnist):
    data = setup_data(tiny_mnist, val_size=100, batch_size=64)
    loader = data.train_dataloader()
    epochs = []
    for epoch in range(2):
        loader.sampler.set_epoch(epoch)
        epochs.append(torch.cat([labels for _, labels in loader]))
        assert sum(1 for _ in loader) == len(loader) == 8
    assert all(sorted(e.tolist()) == sorted(data.splits["train"][1].tolist()) for e in epochs)
    assert not torch.equal(epochs[0], epochs[1])


def test_ranks_share_the_epoch_without_overlap():
    images, labels = torch.zeros(103, 28, 28, dtype=torch.uint8), torch.arange(103)
    shards = [TensorBatches(images, labels, 10, shuffle=True, seed=3, rank=r, world_size=2) for r in range(2)]
    seen = [torch.cat([y for _, y in shard]) for shard in shards]
    assert len(shards[0]) == len(shards[1]) == 6
    assert sorted(torch.cat(seen).tolist()) == list(range(103))
    # the same global batches as one process with twice the batch size
    single = torch.cat([y for _, y in TensorBatches(images, labels, 20, shuffle=True, seed=3)])
    assert sorted(single.tolist()) == list(range(103))
    assert set(single[:20].tolist()) == set(seen[0][:10].tolist()) | set(seen[1][:10].tolist())


def test_loader_resumes_mid_epoch_with_the_same_batches():
    images, labels = torch.zeros(100, 28, 28, dtype=torch.uint8), torch.arange(100)
    reference = TensorBatches(images, labels, 8, shuffle=True, seed=5)
    reference.sampler.set_epoch(1)
    expected = [y for _, y in reference]

    resumed = TensorBatches(images, labels, 8, shuffle=True, seed=5, start_at=lambda: 5)
    resumed.sampler.set_epoch(1)
    rest = [y for _, y in resumed]
    assert len(rest) == len(expected) - 5
    assert all(torch.equal(a, b) for a, b in zip(rest, expected[5:]))


def test_missing_files_say_where_and_what(tmp_path):
    with pytest.raises(DataError, match=str(tmp_path / "MNIST" / "raw")) as error:
        load_mnist(tmp_path, train=True)
    assert "train-images-idx3-ubyte" in str(error.value)


def test_download_failure_is_one_clear_error(tmp_path, monkeypatch):
    from torchvision.datasets import MNIST

    monkeypatch.setattr(MNIST, "mirrors", ["http://127.0.0.1:9/"])  # nothing listens on the discard port
    with pytest.raises(DataError, match="could not be downloaded"):
        MNISTDataModule(data_dir=str(tmp_path)).prepare_data()


def test_truncated_file_is_a_data_error(tmp_path):
    make_mnist(tmp_path)
    path = tmp_path / "MNIST" / "raw" / IDX_NAMES[True][0]
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataError, match="could not be read"):
        load_mnist(tmp_path, train=True)


def test_a_data_folder_whose_parent_is_missing_is_refused_and_not_created(tmp_path):
    data_dir = tmp_path / "typo" / "data"
    with pytest.raises(DataError, match="does not exist"):
        MNISTDataModule(data_dir=str(data_dir)).prepare_data()
    assert not (tmp_path / "typo").exists()


def test_a_data_folder_that_cannot_be_written_is_refused(tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(DataError, match="cannot be downloaded there"):
        MNISTDataModule(data_dir=str(not_a_folder)).prepare_data()
