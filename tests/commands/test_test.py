"""``python -m lit_rnn.test``: a checkpoint evaluated without training gives fit's own numbers, on the test set or the
run's validation split, as text or strict JSON, and logs them into its run at its step; bad inputs are one line."""

import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from helpers.commands import REPO, reported_accuracy, run_module, snapshot, tiny_fit_args
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lit_rnn.test import main

RUN = Path("lightning_logs") / "version_0"


@pytest.fixture(scope="module")
def fitted(tiny_mnist: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A folder in which a tiny fit ran, and what it printed. Its accuracy is far from 0 and 1, so that a match means
    something."""
    workdir = tmp_path_factory.mktemp("fitted")
    result = run_module(
        "lit_rnn.fit",
        tiny_fit_args(tiny_mnist, "--model.network.hidden_size=16", "--trainer.max_epochs=3"),
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert 0.1 < reported_accuracy(result.stdout) < 0.9
    return workdir, result.stdout


def scalars(run: Path, tag: str) -> list[tuple[int, float]]:
    """The tag's points by step. TensorBoard reads a folder's event files in name order, and fit's and the test
    command's, written in the same second, are then ordered by process id: only the steps order them."""
    return sorted((event.step, event.value) for event in EventAccumulator(str(run)).Reload().Scalars(tag))


def strict_json(text: str) -> dict:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_the_test_set_accuracy_is_the_one_fit_reported_and_is_logged_at_the_checkpoints_step(
    fitted, monkeypatch, capsys
):
    workdir, fit_output = fitted
    monkeypatch.chdir(workdir)
    before = {tag: scalars(RUN, tag) for tag in ("test/acc", "test/loss")}
    result = main(["--ckpt_path", "best"])
    out = capsys.readouterr().out
    fit_line = re.search(
        r"^(Test accuracy on the 200 MNIST test images: [0-9.]+) \(best checkpoint, (\S+)\)", fit_output, re.M
    )
    assert out.startswith(f"Checkpoint: {fit_line[2]} (epoch 2, step 30)\n{fit_line[1]}, loss {result.loss:.4f}\n")
    assert result.images == 200 and result.step == 30 and result.logged_to == str(RUN)
    # The run's TensorBoard logs gained a new point at the checkpoint's step, with fit's own values to the last bit.
    for tag, metric in (("test/acc", result.accuracy), ("test/loss", result.loss)):
        fit_point = before[tag][-1]  # fit's own test, at the last step logged
        assert scalars(RUN, tag) == sorted(before[tag] + [fit_point])
        assert fit_point == (30, pytest.approx(metric, rel=1e-7))
    assert (30, pytest.approx(result.per_digit_accuracy[3])) in scalars(RUN, "test_per_digit/acc_3")
    assert out.endswith(f"Logged at step 30 into {RUN}: tensorboard --logdir lightning_logs\n")


def test_the_table_shows_each_digits_accuracy_and_where_its_images_went(fitted, monkeypatch, capsys):
    monkeypatch.chdir(fitted[0])
    result = main(["--ckpt_path", "last"])
    rows = re.findall(r"^ +(\d) +([0-9.]+|-) \|((?: +\d+){10})$", capsys.readouterr().out, re.M)
    assert [int(digit) for digit, _, _ in rows] == list(range(10))
    matrix = [[int(count) for count in counts.split()] for _, _, counts in rows]
    assert matrix == result.confusion_matrix and sum(map(sum, matrix)) == 200
    for (_, shown, _), row, digit in zip(rows, matrix, range(10)):
        assert shown == f"{row[digit] / sum(row):.4f}"
    assert sum(row[digit] for digit, row in enumerate(matrix)) / 200 == pytest.approx(result.accuracy)


def test_the_validation_split_gives_the_accuracy_the_best_checkpoint_was_chosen_by(fitted, monkeypatch, capsys):
    monkeypatch.chdir(fitted[0])
    result = main(["--ckpt_path", "best", "--split", "val"])
    (best,) = (RUN / "checkpoints").glob("best-*.ckpt")
    saved = torch.load(best, weights_only=True)
    (chosen_by,) = [
        state["best_model_score"] for key, state in saved["callbacks"].items() if key.startswith("RunCheckpoint")
    ]
    assert result.images == 100 and result.accuracy == chosen_by.item()  # --data.val_size 100
    assert (
        capsys.readouterr()
        .out.splitlines()[1]
        .startswith(
            f"Validation accuracy on the 100 images of the run's validation split: {chosen_by.item():.4f}, loss "
        )
    )
    assert scalars(RUN, "val/acc")[-1] == (30, chosen_by.item())  # fit validated at steps before its checkpoint's


@pytest.mark.slow  # the command as a process
def test_json_is_one_strict_object_and_a_loose_checkpoint_is_evaluated_without_logging(fitted, tiny_mnist, tmp_path):
    (best,) = (fitted[0] / RUN / "checkpoints").glob("best-*.ckpt")
    loose = Path(shutil.copy(best, tmp_path / "model.ckpt"))
    result = run_module(
        "lit_rnn.test",
        ["--ckpt_path", str(loose), "--format", "json", "--data.data_dir", str(tiny_mnist)],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    record = strict_json(line)
    assert record["checkpoint"] == str(loose) and record["split"] == "test" and record["logged_to"] is None
    assert record["images"] == 200 and len(record["per_digit_accuracy"]) == 10
    assert f"{record['accuracy']:.4f}" == f"{reported_accuracy(fitted[1]):.4f}"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.ckpt"]  # nothing written beside it


@pytest.mark.parametrize(
    "args, message",
    [
        (["--ckpt_path", "missing.ckpt"], "error: The checkpoint missing.ckpt does not exist."),
        (["--split", "train"], "error: argument --split: invalid choice: 'train' (choose from 'test', 'val')."),
        (
            ["--ckpt_path", "last"],
            "error: There is no checkpoint to use as 'last': no run under lightning_logs holds one.",
        ),
        (
            ["--ckpt_path", "best"],
            "error: There is no best checkpoint under lightning_logs: no run there has validated",
        ),
    ],
)
def test_a_bad_input_is_one_error_line(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no run here
    with pytest.raises(SystemExit) as exit:
        main(args)
    assert exit.value.code == 2
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert line.startswith(message) and captured.out == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_on_the_real_mnist_the_test_accuracy_is_the_one_fit_reported(default_run):
    workdir, fit_output = default_run
    result = run_module("lit_rnn.test", ["--ckpt_path", "best"], cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    headline = r"^Test accuracy on the 10,000 MNIST test images: [0-9.]+"
    assert re.search(headline, result.stdout, re.M)[0] == re.search(headline, fit_output, re.M)[0]


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"trainer: [1, 2\n", "is not valid YAML"),
        (b"- a list\n- of things\n", "is not a run's settings"),
        (b"trainer: 3\n", "is not a run's settings"),
        (b"trainer:\n  precision: caf\xe9\n", "is not UTF-8 text"),
        (b"trainer:\n  precision: fp8\n", ": trainer.precision is 'fp8', but it must be one of auto, "),
        (b"trainer:\n  precision: 16.0\n", ": trainer.precision is 16.0, but it must be one of auto, "),
        (b"trainer:\n  precision: true\n", ": trainer.precision is True, but it must be one of auto, "),
        (b"trainer:\n  precision: [32-true]\n", ": trainer.precision is ['32-true'], but it must be one of "),
        (b"trainer:\n  logger: {init_args: {save_dir: .}}\n", ": trainer.logger is {'init_args': {'save_dir': '.'}}, "),
        (b"trainer:\n  logger: tensorboard\n", ": trainer.logger is 'tensorboard', but it must be true, false or"),
        (b"trainer:\n  logger: [true, 3]\n", ": trainer.logger is 3, but it must be true, false or a logger's"),
        (b"trainer: {}\nfolder: /\n", None),  # what the commands need is there (the rest is fit's)
    ],
    ids=[
        "invalid-yaml",
        "a-list",
        "trainer-not-a-mapping",
        "latin-1",
        "precision-unknown",
        "precision-a-float",
        "precision-a-bool",
        "precision-a-list",
        "logger-without-class-path",
        "logger-a-word",
        "logger-a-number-in-a-list",
        "only-other-keys",
    ],
)
def test_a_runs_config_that_is_not_what_fit_wrote_is_one_line_naming_it(
    fitted, tmp_path, monkeypatch, capsys, content, problem
):
    shutil.copytree(fitted[0] / RUN, tmp_path / RUN)
    (tmp_path / RUN / "config.yaml").write_bytes(content)
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    if problem is None:
        assert main(["--ckpt_path", "best", "--format", "json"]).images == 200
        return
    with pytest.raises(SystemExit) as exit:
        main(["--ckpt_path", "best"])
    (line,) = capsys.readouterr().err.splitlines()
    assert exit.value.code == 2 and line.startswith(
        f"error: {RUN / 'config.yaml'}{'' if problem[0] == ':' else ' '}{problem}"
    )
    assert snapshot(tmp_path) == before


def with_settings(fitted: tuple[Path, str], workdir: Path, trainer: dict | None) -> None:
    """A copy of the fitted run in ``workdir``, its config.yaml's trainer settings updated by ``trainer`` (None: the
    file moved away)."""
    shutil.copytree(fitted[0] / RUN, workdir / RUN)
    config = workdir / RUN / "config.yaml"
    if trainer is None:
        config.unlink()
        return
    settings = yaml.safe_load(config.read_text())
    settings["trainer"].update(trainer)
    config.write_text(yaml.safe_dump(settings))


@pytest.mark.parametrize("trained_at", ["16-mixed", "16-true", "transformer-engine"])
def test_a_run_trained_at_a_precision_this_cpu_cannot_run_is_evaluated_in_32_bit_saying_so(
    fitted, tmp_path, monkeypatch, caplog, trained_at
):
    with_settings(fitted, tmp_path, {"precision": trained_at})
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.INFO):
        result = main(["--ckpt_path", "best", "--format", "json"])
    assert round(result.accuracy, 4) == reported_accuracy(fitted[1])  # fitted in 32-true
    assert f"The run trained in {trained_at}, which cannot run here" in caplog.text
    assert "evaluating in 32-true" in caplog.text


@pytest.mark.parametrize(
    "logger, continued",
    [
        (False, ["tensorboard"]),  # the event files are the run's logs, whatever the file says
        ({"class_path": "mypackage.MyLogger"}, ["tensorboard"]),  # a kind not continued, beside the event files
        (None, ["tensorboard"]),  # config.yaml moved away
        ({"class_path": "lightning.pytorch.loggers.CSVLogger"}, ["tensorboard", "metrics.csv"]),  # named, and found
    ],
    ids=["false", "another-kind", "no-config", "csv-named"],
)
def test_the_logs_a_run_holds_are_continued_whatever_its_config_names(
    fitted, tmp_path, monkeypatch, capsys, logger, continued
):
    with_settings(fitted, tmp_path, None if logger is None else {"logger": logger})
    monkeypatch.chdir(tmp_path)
    main(["--ckpt_path", "best"])
    where = capsys.readouterr().out.splitlines()[-1]
    assert where.startswith("Logged at step ") and all(viewer in where for viewer in continued)
    assert ("metrics.csv" in where) is ("metrics.csv" in continued)


@pytest.mark.slow  # the run's owner is another process
def test_a_run_still_training_is_not_tested_into(fitted, tmp_path, monkeypatch, capsys):
    shutil.copytree(fitted[0] / RUN, tmp_path / RUN)
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    owner = subprocess.Popen(  # a live fit of the run, as far as its lock says
        [
            sys.executable,
            "-c",
            f"from lit_rnn.runs import folders as runs; runs.take_ownership(runs.Path({str(RUN)!r})); print(flush=True); "
            "import time; time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},  # this repository's lit_rnn, not the one installed
    )
    try:
        owner.stdout.readline()
        with pytest.raises(SystemExit) as exit:
            main(["--ckpt_path", "best"])
    finally:
        owner.kill()
    (line,) = capsys.readouterr().err.splitlines()
    assert exit.value.code == 2 and line.startswith(f"error: The run {RUN} is in use by process {owner.pid}")
    assert line.endswith("then test it.") and snapshot(tmp_path) == before
    owner.wait()
    assert main(["--ckpt_path", "best", "--format", "json"]).images == 200  # once it has ended, the run is tested
