"""``python -m lit_rnn.predict`` with a model trained on the tiny data: test images by index, image files, bad inputs."""

import json
import re
from pathlib import Path

import pytest
import torch
from helpers.commands import run_module
from helpers.drawings import draw_seven

from lit_rnn.data.datamodule import load_images
from lit_rnn.data.digits import read_digit
from lit_rnn.model.classifier import MNISTClassifier
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
    images, labels = load_images(tiny_mnist, train=False)
    expected = probabilities(tiny_run, "best-*.ckpt", images[:60])
    (best,) = (tiny_run / CHECKPOINTS).glob("best-*.ckpt")
    assert out.startswith(f"Checkpoint: {CHECKPOINTS / best.name}\n")
    lines = re.findall(r"^test image (\d+): (\d) \(probability ([0-9.]+)\), true label (\d)", out, re.M)
    assert [int(index) for index, *_ in lines] == list(range(60))
    assert [int(digit) for _, digit, _, _ in lines] == expected.argmax(dim=1).tolist()
    assert [float(p) for _, _, p, _ in lines] == pytest.approx(
        expected.max(dim=1).values.tolist(), abs=1e-3
    )  # printed to 3 places
    assert [int(label) for *_, label in lines] == labels[:60].tolist()
    right = (expected.argmax(dim=1) == labels[:60]).sum().item()
    assert f"\n{right} of 60 test images right ({right / 60:.3f})\n" in out


def test_json_holds_test_images_and_files_with_every_probability(tiny_run, tiny_mnist, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tiny_run)
    seven = draw_seven(tmp_path / "seven.png")
    main(
        ["--ckpt_path", "last", "--indices", "3,5", "--data.data_dir", str(tiny_mnist), str(seven), "--format", "json"]
    )
    result = json.loads(capsys.readouterr().out)
    newest = max((tiny_run / CHECKPOINTS).glob("*.ckpt"), key=lambda path: path.stat().st_mtime)
    assert result["checkpoint"] == str(CHECKPOINTS / newest.name) and result["errors"] == []
    records = result["predictions"]
    assert [record["source"] for record in records] == ["test image 3", "test image 5", str(seven)]
    _, labels = load_images(tiny_mnist, train=False)
    assert [record["label"] for record in records] == [labels[3].item(), labels[5].item(), None]
    expected = probabilities(tiny_run, newest.name, read_digit(seven)[None])[0]  # the file goes through read_digit
    assert records[2]["digit"] == expected.argmax().item()
    assert records[2]["probabilities"] == pytest.approx(expected.tolist(), abs=5e-5)
    for record in records:
        assert sum(record["probabilities"]) == pytest.approx(1, abs=1e-3)
        assert record["probability"] == max(record["probabilities"]) == record["probabilities"][record["digit"]]


@pytest.mark.slow  # the command as a process
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


def one_error_line(capsys, args: list[str]) -> str:
    """Run predict in-process; it must exit 2 with exactly one line, an ``error:`` line, on stderr."""
    with pytest.raises(SystemExit) as exit:
        main(args)
    assert exit.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ")
    return line


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--format", "xml", "seven.png"], "argument --format: invalid choice: 'xml'"),
        (["--indices", "abc"], "argument --indices: 'abc' is not a list of test indices"),
        (["--indices", "5-2"], "argument --indices: '5-2' is not a list of test indices"),
        (
            ["--indices", "0-30000000"],
            "argument --indices: '0-30000000' goes past the MNIST test set, whose 10,000 images are indices 0-9999",
        ),
        (
            ["--indices", "9" * 5000],
            "argument --indices: '99999999999999999999...999999999999999' goes past the MNIST test set",
        ),
        (
            ["--indices", ",".join(["0-9999"] * 2)],
            "argument --indices: '0-9999,0-9999' names more than 10,000 test images",
        ),
        (["--no-such-option", "seven.png"], "unrecognized arguments: --no-such-option"),
        ([], "give image files, --indices, or both"),
    ],
)
def test_every_usage_error_is_one_error_line(capsys, args, expected):
    line = one_error_line(capsys, args)
    assert line.startswith(f"error: {expected}") and line.endswith(
        "Run python -m lit_rnn.predict --help to see the options."
    )


def overflowing(source: Path, path: Path) -> Path:
    """A copy of a checkpoint whose finite weights make every logit overflow to inf, and so every probability NaN."""
    checkpoint = torch.load(source, weights_only=True)
    weights = checkpoint["state_dict"]
    weights["network.rnn.weight_ih_l0"].zero_()
    weights["network.rnn.weight_hh_l0"].zero_()
    weights["network.rnn.bias_ih_l0"].fill_(50)  # every gate open: the last hidden state is close to 1 everywhere
    weights["network.out.weight"].fill_(3e38)
    torch.save(checkpoint, path)
    return path


def test_json_stays_strict_json_when_the_network_overflows(tiny_run, tmp_path, capsys):
    (best,) = (tiny_run / CHECKPOINTS).glob("best-*.ckpt")
    checkpoint = overflowing(best, tmp_path / "overflowing.ckpt")
    main(["--ckpt_path", str(checkpoint), "--format", "json", str(draw_seven(tmp_path / "seven.png"))])

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    (record,) = json.loads(capsys.readouterr().out, parse_constant=refuse)["predictions"]
    assert record["probability"] is None and record["probabilities"] == [None] * 10


def test_a_picture_pillow_refuses_is_its_own_error_and_the_others_are_predicted(
    tiny_run, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tiny_run)
    bomb = tmp_path / "bomb.pgm"
    bomb.write_bytes(b"P5\n100000 100000\n255\n")  # declares ten billion pixels
    seven = draw_seven(tmp_path / "seven.png")
    with pytest.raises(SystemExit) as exit:
        main([str(bomb), str(seven)])
    assert exit.value.code == 2
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert line.startswith(f"error: {bomb} is too large to read safely")
    assert re.search(rf"^{re.escape(str(seven))}: \d \(probability [0-9.]+\)$", captured.out, re.M)
