"""``read_checkpoint`` names what is wrong with a path given as a checkpoint, whatever it is, and runs nothing in it."""

import os
import zipfile
from pathlib import Path

import pytest
import torch
from helpers.checkpoints import lightning_like_checkpoint
from helpers.cli import cli_in_process, fit_in_process
from helpers.commands import tiny_fit_args

from lit_rnn.runs.checkpointing import CheckpointError, read_checkpoint


class RunsCode:
    def __reduce__(self):
        return os.system, (f"touch {Path.cwd() / 'PWNED'}",)


def zip_of_another_kind(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes/readme.txt", "a zip archive, not a checkpoint")


def damaged_pickle(path: Path) -> None:
    torch.save({"state_dict": {"weight": torch.zeros(3)}}, path)
    with zipfile.ZipFile(path) as source:
        members = {name: source.read(name) for name in source.namelist()}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data[:10] if name.endswith("/data.pkl") else data)


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda path: path.mkdir(), "is a folder, not a checkpoint file. Give --ckpt_path a .ckpt file"),
        (lambda path: path.symlink_to(path.name), "is not a regular file"),
        (lambda path: None, "does not exist"),
        (zip_of_another_kind, "is not a PyTorch checkpoint: it is a zip archive of another kind"),
        (damaged_pickle, "is corrupt (EOFError)"),
        (
            lambda path: torch.save({"state_dict": {}, "payload": RunsCode()}, path),
            "was refused: it holds Python objects (posix.system) that could run code",
        ),
    ],
)
def test_a_path_that_is_no_checkpoint_says_what_it_is(tmp_path, monkeypatch, make, problem):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "model.ckpt"
    make(path)
    with pytest.raises(CheckpointError) as error:
        read_checkpoint(path)
    assert str(error.value).startswith(f"The checkpoint {path} {problem}")
    assert "\n" not in str(error.value) and not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(
    "changes, problem",
    [
        ({"epoch": "x"}, "its epoch is 'x', but it must be a whole number of epochs, 0 or more"),
        ({"epoch": -1}, "its epoch is -1, but it must be a whole number of epochs"),
        ({"epoch": 1.5}, "its epoch is 1.5, but it must be a whole number of epochs"),
        ({"epoch": True}, "its epoch is True, but it must be a whole number of epochs"),
        ({"global_step": None}, "its global_step is None, but it must be a whole number of steps"),
        ({"global_step": "y" * 100}, "its global_step is 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy..., but"),
        ({"loops": "nope"}, "its loops is 'nope', but it must be a mapping holding the fit loop's progress"),
        ({"loops": {}}, "its loops is {}, but it must be a mapping holding the fit loop's progress"),
        ({"state_dict": [1]}, "its state_dict is [1], but it must be a mapping of weights"),
        ({"optimizer_states": {}}, "its optimizer_states is {}, but it must be a list"),
        ({"callbacks": 3}, "its callbacks is 3, but it must be a mapping"),
    ],
)
def test_a_checkpoint_whose_bookkeeping_is_not_lightnings_says_which_entry(tmp_path, changes, problem):
    path = tmp_path / "edited.ckpt"
    torch.save(lightning_like_checkpoint(**changes), path)
    with pytest.raises(CheckpointError) as refused:
        read_checkpoint(path)
    assert f"The checkpoint {path} is not as Lightning writes a checkpoint: {problem}" in str(refused.value)


def test_a_checkpoint_as_lightning_writes_one_reads_back_as_it_was(tmp_path):
    torch.save(lightning_like_checkpoint(), tmp_path / "whole.ckpt")
    read = read_checkpoint(tmp_path / "whole.ckpt")
    assert (read["epoch"], read["global_step"], read["loops"]) == (1, 30, {"fit_loop": {}})


def test_a_resume_reads_its_checkpoint_once_and_lightning_restores_from_that_read(tiny_mnist, tmp_path, monkeypatch):
    first = fit_in_process(tiny_mnist, tmp_path, monkeypatch)
    reads = []
    load = torch.load
    monkeypatch.setattr(
        torch, "load", lambda path, *args, **kwargs: reads.append(Path(path).name) or load(path, *args, **kwargs)
    )
    cli = cli_in_process(tmp_path, monkeypatch, tiny_fit_args(tiny_mnist, "--ckpt_path=last", "--trainer.max_epochs=3"))
    cli.trainer.fit(cli.model, cli.datamodule, ckpt_path=cli.config.ckpt_path)
    assert reads == ["recovery.ckpt"] and cli.run == first.run  # the plan's read, handed to Lightning
    assert cli.trainer.global_step == first.trainer.global_step * 3 // 2  # restored: a third epoch trained on it
