"""``python -m lit_rnn.predict`` with a model trained on the tiny data: test images by index, image files, bad inputs."""

import json
import re
from pathlib import Path

import lightning
import pytest
import torch
from conftest import run_module
from drawings import draw_seven
from lightning.pytorch.demos.boring_classes import BoringModel

from lit_rnn.data import load_mnist
from lit_rnn.digits import read_digit
from lit_rnn.model import MNISTClassifier
from lit_rnn.predict import main

CHECKPOINTS = Path("lightning_logs") / "version_0" / "checkpoints"


def probabilities(run: Path, which: str, images: torch.Tensor) -> torch.Tensor:
    """The trained model's own answer for uint8 images, computed here without the predict command."""
    (path,) = (run / CHECKPOINTS).glob(which)
    model = MNISTClassifier.load_from_checkpoint(path, map_location="cpu").eval()
    with torch.no_grad():
        return model(images.float() / 255).softmax(dim=1)


def test_test_images_by_index_get_the_models_predictions_and_accuracy(tiny_run, tiny_mnist, monkeypatch, capsys):
    monkeypatch.chdir(tiny_run)
    main(["--ckpt_path", "best", "--indices", "0-59"])  # the test set is found where the run trained
    out = capsys.readouterr().out
    images, labels = load_mnist(tiny_mnist, train=False)
    expected = probabilities(tiny_run, "best-*.ckpt", images[:60])
    (best,) = (tiny_run / CHECKPOINTS).glob("best-*.ckpt")
    assert out.startswith(f"Checkpoint: {CHECKPOINTS / best.name}\n")
    lines = re.findall(r"^test image (\d+): (\d) \(probability ([0-9.]+)\), true label (\d)", out, re.M)
    assert [int(index) for index, *_ in lines] == list(range(60))
    assert [int(digit) for _, digit, _, _ in lines] == expected.argmax(dim=1).tolist()
    assert [float(p) for _, _, p, _ in lines] == pytest.approx(expected.max(dim=1).values.tolist(), abs=1e-3)  # printed to 3 places
    assert [int(label) for *_, label in lines] == labels[:60].tolist()
    right = (expected.argmax(dim=1) == labels[:60]).sum().item()
    assert f"\n{right} of 60 test images right ({right / 60:.3f})\n" in out


def test_json_holds_test_images_and_files_with_every_probability(tiny_run, tiny_mnist, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tiny_run)
    seven = draw_seven(tmp_path / "seven.png")
    main(["--ckpt_path", "last", "--indices", "3,5", "--data.data_dir", str(tiny_mnist), str(seven), "--format", "json"])
    result = json.loads(capsys.readouterr().out)
    newest = max((tiny_run / CHECKPOINTS).glob("*.ckpt"), key=lambda path: path.stat().st_mtime)
    assert result["checkpoint"] == str(CHECKPOINTS / newest.name) and result["errors"] == []
    records = result["predictions"]
    assert [record["source"] for record in records] == ["test image 3", "test image 5", str(seven)]
    _, labels = load_mnist(tiny_mnist, train=False)
    assert [record["label"] for record in records] == [labels[3].item(), labels[5].item(), None]
    expected = probabilities(tiny_run, newest.name, read_digit(seven)[None])[0]  # the file goes through read_digit
    assert records[2]["digit"] == expected.argmax().item()
    assert records[2]["probabilities"] == pytest.approx(expected.tolist(), abs=5e-5)
    for record in records:
        assert sum(record["probabilities"]) == pytest.approx(1, abs=1e-3)
        assert record["probability"] == max(record["probabilities"]) == record["probabilities"][record["digit"]]


def test_each_bad_input_gets_one_line_and_the_others_are_still_predicted(tiny_run, tmp_path):
    seven = draw_seven(tmp_path / "seven.png")
    notes = tmp_path / "notes.png"
    notes.write_text("not a picture")
    draw_seven(tmp_path / "blank.png", ink="white")
    bad = {"notes.png": "is not an image", "missing.png": "could not be read", "blank.png": "is blank"}
    files = [str(tmp_path / name) for name in ("notes.png", "missing.png", "blank.png")]
    result = run_module("lit_rnn.predict", ["--indices", "0-2,200-299", str(seven), *files], cwd=tiny_run)
    assert result.returncode == 2
    errors = result.stderr.splitlines()
    assert len(errors) == 4, result.stderr  # one line per bad input and nothing else: no traceback, no warnings
    assert errors[0].startswith("error: --indices 200 and 99 more: the MNIST test set has only 200 images")
    for line, (name, reason) in zip(errors[1:], bad.items()):
        assert line.startswith(f"error: {tmp_path / name} {reason}")
    out = result.stdout
    assert re.findall(r"^test image (\d+): \d", out, re.M) == ["0", "1", "2"]
    assert re.search(rf"^{re.escape(str(seven))}: \d \(probability [0-9.]+\)$", out, re.M)


def another_kind(path: Path, kind: str) -> Path:
    if kind == "text":
        path.write_text("not a checkpoint")
    elif kind == "weights only":
        torch.save({"weights": torch.zeros(3)}, path)
    elif kind == "another model":
        torch.save({"state_dict": BoringModel().state_dict(), "hyper_parameters": {},
                    "pytorch-lightning_version": lightning.__version__}, path)
    return path


@pytest.mark.parametrize("kind", ["missing", "text", "weights only", "another model"])
def test_a_missing_checkpoint_or_one_of_another_kind_is_one_line_naming_it(kind, tmp_path, capsys):
    checkpoint = another_kind(tmp_path / "model.ckpt", kind)
    with pytest.raises(SystemExit) as exit:
        main(["--ckpt_path", str(checkpoint), str(draw_seven(tmp_path / "seven.png"))])
    assert exit.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    expected = "does not exist" if kind == "missing" else "is not a"
    assert line.startswith(f"error: The checkpoint {checkpoint} {expected}")
