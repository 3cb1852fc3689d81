import re
import struct

import pytest
import torch
from helpers.mnist import IDX_NAMES, make_mnist

from lit_rnn.base.errors import ConfigError
from lit_rnn.data.batches import TensorBatches
from lit_rnn.data.datamodule import DataError, MNISTDataModule, load_images


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
    images = load_images(tiny_mnist, train=True)[0].flatten(1)
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
    raw = load_images(tiny_mnist, train=False)[0]
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
        load_images(tmp_path, train=True)
    assert "train-images-idx3-ubyte" in str(error.value)


def test_download_failure_is_one_line_and_leaves_no_folder_behind(tmp_path, monkeypatch):
    from torchvision.datasets import MNIST

    monkeypatch.setattr(MNIST, "mirrors", ["http://127.0.0.1:9/", "http://127.0.0.1:9/again/"])  # nothing listens there
    with pytest.raises(
        DataError,
        match=r"could not be downloaded \(RuntimeError: Error downloading train-images-idx3-ubyte.gz: "
        r"\.\.\. <urlopen error \[Errno 111\] Connection refused>\)",
    ) as error:
        MNISTDataModule(data_dir=str(tmp_path / "new")).prepare_data()
    assert "\n" not in str(error.value)
    assert list(tmp_path.iterdir()) == []


def header(magic: int, *sizes: int) -> bytes:
    return struct.pack(f">{1 + len(sizes)}I", magic, *sizes)


@pytest.mark.parametrize(
    "train, file, content, expected",
    [
        (
            True,
            0,
            lambda body: body[:1000],
            "is 1,000 bytes long, but its header announces 600 images of 28x28 pixels, 470,416 bytes",
        ),
        (True, 0, lambda body: body + b"\0", "is 470,417 bytes long"),
        (False, 0, lambda body: body[:10], "is truncated: it is shorter than the header"),
        (
            False,
            0,
            lambda body: header(0x0D03, 200, 28, 28) + bytes(200 * 28 * 28 * 4),
            "is not an IDX file of uint8 images of 28x28 pixels: its header announces element type 0x0d in 3",
        ),
        (
            False,
            1,
            lambda body: header(0x0802, 200, 1) + bytes(200),
            "is not an IDX file of uint8 labels: its header announces element type 0x08 in 2",
        ),
        (False, 0, lambda body: header(0x0803, 200, 28, 27) + bytes(200 * 28 * 27), "holds 200 items of shape 28x27"),
        (False, 0, lambda body: header(0x0803, 0, 28, 28), "holds 0 items of shape 28x28"),
    ],
)
def test_a_malformed_idx_file_is_named_with_what_is_wrong(tmp_path, train, file, content, expected):
    make_mnist(tmp_path)
    path = tmp_path / "MNIST" / "raw" / IDX_NAMES[train][file]
    path.write_bytes(content(path.read_bytes()))
    with pytest.raises(DataError, match=re.escape(f"The MNIST file {path} {expected}")) as error:
        load_images(tmp_path, train=train)
    assert "\n" not in str(error.value)


def test_a_label_outside_0_to_9_is_refused_with_its_value_and_position(tmp_path):
    make_mnist(tmp_path)
    path = tmp_path / "MNIST" / "raw" / IDX_NAMES[True][1]
    labels = bytearray(path.read_bytes())
    labels[8 + 41], labels[8 + 500] = 10, 255
    path.write_bytes(bytes(labels))
    with pytest.raises(
        DataError, match=re.escape(f"{path} holds the label 10 at position 41 (and 1 more labels outside 0-9)")
    ):
        load_images(tmp_path, train=True)
    load_images(tmp_path, train=False)  # the test files are still fine


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda folder: folder.symlink_to(folder.name), "is a symbolic link that loops back on itself"),
        (lambda folder: folder.symlink_to("nowhere"), "is a symbolic link to nowhere, which does not exist"),
        (lambda folder: folder.write_text(""), "is a file, not a folder"),
    ],
)
def test_a_data_folder_that_cannot_hold_files_says_why(tmp_path, make, expected):
    data_dir = tmp_path / "data"
    make(data_dir)
    for attempt in (lambda: load_images(data_dir, train=True), MNISTDataModule(data_dir=str(data_dir)).prepare_data):
        with pytest.raises(DataError, match=re.escape(f"The data folder {data_dir} {expected}.")):
            attempt()


def test_an_empty_data_folder_name_is_refused():
    with pytest.raises(ConfigError, match="--data.data_dir is ''"):
        MNISTDataModule(data_dir="")


def test_a_validation_split_as_large_as_the_training_files_is_refused(tiny_mnist):
    with pytest.raises(
        ConfigError, match="--data.val_size is 600, but it must be below 600, the number of training images"
    ):
        setup_data(tiny_mnist, val_size=600)


def test_a_data_folder_whose_parent_is_missing_is_refused_and_not_created(tmp_path):
    data_dir = tmp_path / "typo" / "data"
    with pytest.raises(DataError, match="does not exist"):
        MNISTDataModule(data_dir=str(data_dir)).prepare_data()
    assert not (tmp_path / "typo").exists()
