"""The run folders: which run and checkpoint ``last`` and ``best`` mean, one owner per run, no empty leftovers."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers.commands import REPO, snapshot, tiny_fit_args

from lit_rnn import fit
from lit_rnn.runs import folders as runs
from lit_rnn.runs.checkpointing import TRAINING_STATE_KEYS


def save_checkpoint(path: Path, best: str = "", mtime_ns: int | None = None) -> Path:
    """A minimal training checkpoint whose ModelCheckpoint state names ``best`` as it was written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "epoch": 0,
        "global_step": 10,
        "state_dict": {},
        "loops": {"fit_loop": {}},
        "optimizer_states": [],
        "lr_schedulers": [],
        "callbacks": {"RunCheckpoint{'monitor': 'val/acc'}": {"best_model_path": best}, "RecoveryCheckpoint": {}},
    }
    assert set(TRAINING_STATE_KEYS) <= set(state)
    torch.save(state, path)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def test_last_and_best_come_from_the_newest_run_that_has_them_wherever_it_was_written(tmp_path):
    for version in (2, 10):  # version_10 is the newer, though it sorts first as text
        folder = tmp_path / f"version_{version}" / "checkpoints"
        best = save_checkpoint(folder / f"best-epoch=0-step={version}.ckpt")
        # The best path as the run wrote it, in the folder it was started from, since moved or copied here.
        save_checkpoint(folder / "last.ckpt", best=f"/elsewhere/{best.name}", mtime_ns=2**62)
    (tmp_path / "version_11").mkdir()  # a run that stopped before its first checkpoint hides nothing
    newest = tmp_path / "version_10" / "checkpoints"
    assert runs.last_checkpoint(tmp_path)[0] == newest / "last.ckpt"
    assert runs.best_checkpoint(tmp_path) == newest / "best-epoch=0-step=10.ckpt"
    with pytest.raises(runs.NothingToResume, match="no run under .* holds one"):
        runs.last_checkpoint(tmp_path / "nothing_trained_here")
    with pytest.raises(runs.NothingToResume, match="There is no best checkpoint"):
        runs.best_checkpoint(tmp_path / "nothing_trained_here")


def test_a_run_without_a_best_checkpoint_has_none(tmp_path):
    save_checkpoint(tmp_path / "version_0" / "checkpoints" / "recovery.ckpt")  # no validation ran
    save_checkpoint(tmp_path / "version_1" / "checkpoints" / "recovery.ckpt", best="/gone/best-epoch=0-step=5.ckpt")
    with pytest.raises(runs.NothingToResume):
        runs.best_checkpoint(tmp_path)


@pytest.mark.slow  # the owner is another process
def test_a_run_has_one_owner_at_a_time_and_only_dead_owners_leftovers_are_cleared(tmp_path):
    run = runs.claim_new_run(tmp_path / "lightning_logs")
    runs.remove_if_unused(run)  # hands it back, and the root it made, so that another process can own it
    assert not run.parent.exists()
    run.mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from lit_rnn.runs import folders as runs; "
            "runs.take_ownership(Path(sys.argv[1])); print('owned', flush=True); time.sleep(60)",
            str(run),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert holder.stdout.readline().strip() == "owned"
        staged = save_checkpoint(run / "checkpoints" / ".recovery.ckpt.partial")  # the live owner's write
        with pytest.raises(runs.RunInUse, match=f"is in use by process {holder.pid} on "):
            runs.take_ownership(run)
        assert staged.exists()
    finally:
        holder.kill()
        holder.wait()
    runs.take_ownership(run)  # the lock died with its process
    assert not staged.exists()  # a dead owner's half-written file
    assert f"process {os.getpid()} " in (run / runs.LOCK_NAME).read_text()


def test_only_a_claimed_run_that_saved_nothing_is_removed(tmp_path):
    root = tmp_path / "lightning_logs"
    first, second = runs.claim_new_run(root), runs.claim_new_run(root)
    assert [first.name, second.name] == ["version_0", "version_1"]
    save_checkpoint(second / "checkpoints" / "recovery.ckpt")
    runs.remove_if_unused(second)
    runs.remove_if_unused(first)
    foreign = root / "version_7"
    foreign.mkdir()
    runs.remove_if_unused(foreign)  # not this process's
    assert sorted(path.name for path in root.iterdir()) == ["version_1", "version_7"]


def test_a_run_owned_here_is_not_mistaken_for_the_run_of_the_same_name_in_another_folder(tmp_path, monkeypatch):
    for folder in ("a", "b"):
        (tmp_path / folder / "lightning_logs" / "version_0").mkdir(parents=True)
    relative = Path("lightning_logs") / "version_0"
    monkeypatch.chdir(tmp_path / "a")
    runs.take_ownership(relative)
    monkeypatch.chdir(tmp_path / "b")
    assert not runs.in_use(relative)
    with runs.owned(relative, then="test it"):
        assert runs.in_use(relative) and (tmp_path / "b" / relative / ".lock").read_text().startswith("process")
    assert not runs.in_use(relative)
    monkeypatch.chdir(tmp_path / "a")
    assert runs.in_use(relative)


def test_a_run_claimed_in_a_block_that_fails_before_saving_is_given_back_and_others_are_kept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = Path("lightning_logs")  # relative, as the commands give it
    with pytest.raises(KeyError), runs.given_back_on_failure():
        claimed = runs.claim_new_run(root)
        raise KeyError("the Trainer could not be built")
    assert not claimed.exists() and not root.exists()  # nor the root this process made for it
    with runs.given_back_on_failure():
        kept = runs.claim_new_run(root)
    with pytest.raises(KeyError), runs.given_back_on_failure():
        saved = runs.claim_new_run(root)
        runs.checkpoint_folder(saved).mkdir(parents=True)
        (runs.checkpoint_folder(saved) / "recovery.ckpt").write_bytes(b"the first step")
        raise KeyError("stopped after a save")
    assert kept.is_dir() and saved.is_dir()


def a_run(root: Path) -> Path:
    """A run folder holding what a fit with TensorBoard and CSV leaves (the checkpoints minimal ones)."""
    run = root / "lightning_logs" / "version_0"
    save_checkpoint(run / "checkpoints" / "last.ckpt")
    save_checkpoint(run / "checkpoints" / "recovery.ckpt")
    for name in ("config.yaml", "hparams.yaml", "metrics.csv", "results.json", "events.out.tfevents.1.vm.2.0"):
        (run / name).write_text("\n")
    (run / "images" / "val").mkdir(parents=True)
    return run


def broken(path: Path, how: str) -> None:
    """Make the entry ``path`` of a run what fit does not leave there."""
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
    if how == "folder":
        path.mkdir()
    elif how == "file":
        path.write_text("\n")
    else:
        path.symlink_to(path.parent / "gone")


ENTRIES = [
    "checkpoints/last.ckpt",
    "checkpoints/recovery.ckpt",
    "config.yaml",
    "hparams.yaml",
    "metrics.csv",
    "results.json",
    "events.out.tfevents.1.vm.2.0",
]


@pytest.mark.parametrize(
    "entry, how",
    [(entry, how) for entry in ENTRIES for how in ("folder", "broken-link")]
    + [(folder, how) for folder in ("checkpoints", "images") for how in ("file", "broken-link")],
)
def test_an_entry_of_a_run_that_is_not_what_fit_keeps_there_is_one_line_naming_it_when_the_run_is_taken(
    tmp_path, entry, how
):
    run = a_run(tmp_path)
    runs.check_run_files(run)  # as fit left it
    broken(run / entry, how)
    with pytest.raises(runs.UserError) as refused:
        runs.take_ownership(run)
    what = {"folder": "is a folder, where", "file": "is a file, where", "broken-link": "is a broken symbolic link"}[how]
    message = str(refused.value)
    assert message.startswith(f"The run's {run / entry} {what}") and "\n" not in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes every file")
def test_a_file_of_a_run_this_user_cannot_read_and_write_is_one_line_naming_it(tmp_path):
    run = a_run(tmp_path)
    (run / "metrics.csv").chmod(0o444)
    with pytest.raises(runs.UserError, match=r"metrics.csv cannot be read and written by this user"):
        runs.check_run_files(run)


def test_a_broken_link_among_the_checkpoints_is_passed_over_by_name_for_the_newest_that_reads(tmp_path, capsys):
    run = a_run(tmp_path)
    broken(run / "checkpoints" / "recovery.ckpt", "broken-link")
    path, _ = runs.newest_valid_checkpoint(run)
    assert path == run / "checkpoints" / "last.ckpt"
    assert "recovery.ckpt is not a regular file; using" in capsys.readouterr().err


@pytest.fixture(scope="module")
def csv_run(tiny_mnist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder in which a tiny fit logged to CSV ran (read-only by convention)."""
    workdir = tmp_path_factory.mktemp("csv_run")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        patch.setattr(sys, "argv", ["lit_rnn.fit"])
        fit.main(
            tiny_fit_args(tiny_mnist, "--trainer.logger=lightning.pytorch.loggers.CSVLogger", "--trainer.max_epochs=1")
        )
    return workdir


@pytest.mark.parametrize(
    "entry, how",
    [
        ("metrics.csv", "folder"),
        ("metrics.csv", "broken-link"),
        ("hparams.yaml", "folder"),
        ("config.yaml", "broken-link"),
        ("checkpoints/last.ckpt", "folder"),
        ("checkpoints", "file"),
        ("checkpoints", "broken-link"),
    ],
)
def test_a_resume_of_a_run_holding_what_fit_does_not_leave_is_one_line_naming_it_and_nothing_is_lost(
    csv_run, tiny_mnist, tmp_path, monkeypatch, capsys, entry, how
):
    shutil.copytree(csv_run / "lightning_logs", tmp_path / "lightning_logs")
    run = tmp_path / "lightning_logs" / "version_0"
    broken(run / entry, how)
    before = snapshot(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lit_rnn.fit"])
    with pytest.raises(SystemExit) as exit:
        fit.main(tiny_fit_args(tiny_mnist, "--trainer.logger=lightning.pytorch.loggers.CSVLogger", "--ckpt_path=last"))
    line = capsys.readouterr().err.splitlines()[-1]
    assert exit.value.code == 2 and line.startswith(f"error: The run's {run.relative_to(tmp_path) / entry} is a ")
    assert snapshot(tmp_path) == before
