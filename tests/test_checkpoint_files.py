"""``read_checkpoint`` names what is wrong with a path given as a checkpoint, whatever it is, and runs nothing in it."""

import os
import zipfile
from pathlib import Path

import pytest
import torch

from lit_rnn.checkpointing import CheckpointError, read_checkpoint


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


@pytest.mark.parametrize("make, problem", [
    (lambda path: path.mkdir(), "is a folder, not a checkpoint file. Give --ckpt_path a .ckpt file"),
    (lambda path: path.symlink_to(path.name), "is not a regular file"),
    (lambda path: None, "does not exist"),
    (zip_of_another_kind, "is not a PyTorch checkpoint: it is a zip archive of another kind"),
    (damaged_pickle, "is corrupt (EOFError)"),
    (lambda path: torch.save({"state_dict": {}, "payload": RunsCode()}, path),
     "was refused: it holds Python objects (posix.system) that could run code"),
])
def test_a_path_that_is_no_checkpoint_says_what_it_is(tmp_path, monkeypatch, make, problem):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "model.ckpt"
    make(path)
    with pytest.raises(CheckpointError) as error:
        read_checkpoint(path)
    assert str(error.value).startswith(f"The checkpoint {path} {problem}")
    assert "\n" not in str(error.value) and not (tmp_path / "PWNED").exists()
