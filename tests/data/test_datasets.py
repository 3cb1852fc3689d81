"""Datasets of MNIST's format by config (``--data.dataset``): Fashion-MNIST and Kuzushiji-MNIST through torchvision's
own classes, on tiny IDX files the tests write in each one's folder; their class names reach every answer."""

import json

import numpy as np
import pytest
import torch
from helpers.commands import run_module, tiny_fit_args
from helpers.mnist import make_mnist
from torchvision.datasets import KMNIST, FashionMNIST

from lit_rnn import predict, test
from lit_rnn.data.datamodule import DataError, MNISTDataModule

OTHERS = [("fashion_mnist", FashionMNIST), ("kmnist", KMNIST)]


@pytest.mark.parametrize("name, source", OTHERS)
def test_another_dataset_is_read_from_its_own_folder_by_torchvision(name, source, tmp_path):
    make_mnist(tmp_path, train_count=300, test_count=50, folder=source.__name__)
    data = MNISTDataModule(data_dir=str(tmp_path), dataset=name, val_size=40)
    data.prepare_data()  # the files are there: nothing is downloaded
    data.setup("fit")
    assert [len(data.splits[split][1]) for split in ("train", "val", "test")] == [260, 40, 50]
    assert data.num_classes == 10 and list(data.dataset.class_names) == source.classes
    pixels = data.splits["train"][0].numpy().astype(np.float64) / 255
    assert data.pixel_statistics() == pytest.approx((pixels.mean(), pixels.std()), rel=1e-12)


@pytest.mark.parametrize("name, source", OTHERS)
def test_offline_its_download_fails_in_one_line_naming_the_folder_for_its_files(name, source, tmp_path, monkeypatch):
    monkeypatch.setattr(source, "mirrors", ["http://127.0.0.1:9/"])  # nothing listens there
    with pytest.raises(DataError) as error:
        MNISTDataModule(data_dir=str(tmp_path / "new"), dataset=name).prepare_data()
    message = str(error.value)
    assert "\n" not in message and "could not be downloaded" in message
    assert "Put the four IDX files (train-images-idx3-ubyte, " in message
    assert str(tmp_path / "new" / source.__name__ / "raw") in message
    assert list(tmp_path.iterdir()) == []  # the folders it made are gone


def test_mnist_files_are_not_taken_for_another_dataset(tiny_mnist):
    with pytest.raises(DataError, match=r"The Fashion-MNIST files .* are not in .*FashionMNIST/raw"):
        data = MNISTDataModule(data_dir=str(tiny_mnist), dataset="fashion_mnist")
        data.setup("fit")


@pytest.fixture(scope="module")
def fashion_run(tmp_path_factory):
    """A quick fit on tiny Fashion-MNIST files: (the folder it ran in, the data folder)."""
    data = make_mnist(tmp_path_factory.mktemp("fashion"), folder="FashionMNIST")
    workdir = tmp_path_factory.mktemp("fashion_run")
    result = run_module("lit_rnn.fit", tiny_fit_args(data, "--data.dataset=fashion_mnist"), cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Test accuracy on the 200 Fashion-MNIST test images:" in result.stdout
    return workdir, data


def test_predict_and_test_name_the_classes_of_the_dataset_the_run_trained_on(fashion_run, monkeypatch, capsys):
    workdir, data = fashion_run
    monkeypatch.chdir(workdir)
    predictions = predict.main(["--indices", "0-9", "--format", "json"])
    answer = json.loads(capsys.readouterr().out)
    assert [record["class_name"] for record in answer["predictions"]] == [
        FashionMNIST.classes[prediction.digit] for prediction in predictions
    ]
    evaluation = test.main([])
    table = capsys.readouterr().out
    assert evaluation.class_names == FashionMNIST.classes and evaluation.dataset == "Fashion-MNIST"
    assert "Test accuracy on the 200 Fashion-MNIST test images:" in table
    assert " 7 Sneaker " in table and " 9 Ankle boot " in table  # each row of the table names its class
    labels = torch.tensor([record["label"] for record in answer["predictions"]])
    assert len(labels) == 10 and int(labels.max()) <= 9
