"""The run folders, ``ROOT/version_N``: each the one home of a run's logs, config and checkpoints.

Every command goes through here to name and claim a new run folder, to take one for the life of its process
(a run has one owner at a time, so a requeued job cannot write into a run that is still going), to list runs,
to find a run's checkpoints (the newest that reads back whole, the best, the last), and to remove the folder of
a run that failed before it saved anything.
"""

import os
import shutil
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from lit_rnn.base.errors import ConfigError, UserError
from lit_rnn.base.file_locks import try_lock
from lit_rnn.base.private_apis import best_model_path
from lit_rnn.base.yaml_files import YAMLFileError, read_yaml
from lit_rnn.logs.outputs import IMAGES
from lit_rnn.runs.checkpointing import PARTIAL_SUFFIX, CheckpointError, read_checkpoint
from lit_rnn.runs.old_runs import upgrade_config

LOG_ROOT = Path("lightning_logs")
RUN_PREFIX = "version_"
CHECKPOINTS = "checkpoints"
CONFIG_FILE = "config.yaml"  # the settings as given, which LightningCLI's SaveConfigCallback writes
CONFIG_FIX = (
    "Restore it from a copy, or move it out of the run folder: the commands then use the run's checkpoints alone."
)
_RUN_FOLDERS = (CHECKPOINTS, IMAGES)  # the only folders of a run; all else in it is a file
LOCK_NAME = ".lock"  # held with flock by the run's live process; the lock dies with the process, however it ends

_held: dict[Path, IO[str]] = {}  # the locks this process holds, open until it exits, by the run's absolute path
_created_roots: set[Path] = set()  # run roots that this process made, to remove again if they stay empty


class RunInUse(UserError):
    """Another live process owns the run folder."""


class NothingToResume(UserError):
    """``--ckpt_path last`` found no run with a readable checkpoint."""


def checkpoint_folder(run: Path) -> Path:
    return run / CHECKPOINTS


def runs_newest_first(root: Path) -> list[Path]:
    """The ``version_N`` run folders under ``root``, highest N first."""
    runs = [path for path in root.glob(f"{RUN_PREFIX}*") if path.is_dir() and path.name[len(RUN_PREFIX) :].isdigit()]
    return sorted(runs, key=lambda path: int(path.name[len(RUN_PREFIX) :]), reverse=True)


def run_of(checkpoint: Path) -> Path | None:
    """The run folder that holds ``checkpoint`` (``RUN/checkpoints/NAME.ckpt``), or None for a loose file."""
    folder = checkpoint.parent
    if folder.name == CHECKPOINTS and folder.parent.name.startswith(RUN_PREFIX):
        return folder.parent
    return None


def claim_new_run(root: Path) -> Path:
    """Create and own the next free ``root/version_N``. ``mkdir`` claims it: of two runs started together only one
    can create a given folder, so each gets its own."""
    try:
        if not root.exists():
            root.mkdir(parents=True)
            _created_roots.add(root.absolute())
        runs = runs_newest_first(root)
        number = int(runs[0].name[len(RUN_PREFIX) :]) + 1 if runs else 0
        while True:
            run = root / f"{RUN_PREFIX}{number}"
            try:
                run.mkdir()
                break
            except FileExistsError:
                number += 1
    except OSError as error:
        raise UserError(
            f"The run's logs and checkpoints cannot be written under {root} ({error.strerror}). Run from a folder "
            "you can write, or point --trainer.logger.init_args.save_dir at one."
        ) from None
    take_ownership(run)
    return run


def take_ownership(run: Path, then: str = "resume with --ckpt_path last") -> None:
    """Lock ``run`` for this process's life, then clear what dead owners left half-written; ``then`` is what the user
    can do once the owner has ended.

    Raises:
        RunInUse: naming the process that owns it.
    """
    if run.absolute() in _held:
        return
    try:
        handle = try_lock(run / LOCK_NAME)  # held open until the process exits
    except OSError as error:
        raise UserError(
            f"The run folder {run} cannot be written ({error.strerror}). Resume as a user who can write it."
        ) from None
    if handle is None:
        owner = (run / LOCK_NAME).read_text().strip() or "another process"
        raise RunInUse(
            f"The run {run} is in use by {owner}, which is still running: a run has one owner at a time. Wait for it "
            f"to end (or stop it: it saves and exits on SIGTERM), then {then}."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"process {os.getpid()} on {socket.gethostname()}\n")
    handle.flush()
    _held[run.absolute()] = handle
    check_run_files(run)
    for partial in checkpoint_folder(run).glob(f".*{PARTIAL_SUFFIX}"):
        partial.unlink(missing_ok=True)  # a dead owner's write, cut off


def check_run_files(run: Path) -> None:
    """Refuse, naming it, an entry of the run that is not what fit keeps there: each is a file, which fit reads back or
    writes again (checkpoints, config.yaml, metrics.csv, hparams.yaml, the event files...), except the folders
    checkpoints/ and images/. Else the command would fail in the middle, in Lightning or a logger, on a folder, a
    broken link or a file it cannot read.

    Raises:
        UserError: naming the entry, what it is, and what to do.
    """
    entries = [(entry, entry.name in _RUN_FOLDERS) for entry in _entries(run)]
    if checkpoint_folder(run).is_dir():
        entries += [(entry, False) for entry in _entries(checkpoint_folder(run))]
    for entry, folder in entries:
        if entry.is_symlink() and not entry.exists():
            problem = f"is a broken symbolic link (to {os.readlink(entry)})"
        elif folder and not entry.is_dir():
            problem = "is a file, where the run keeps a folder"
        elif not folder and entry.is_dir():
            problem = "is a folder, where the run keeps a file"
        elif not folder and not os.access(entry, os.R_OK | os.W_OK):
            problem = "cannot be read and written by this user"
        else:
            continue
        raise UserError(
            f"The run's {entry} {problem}, so the run cannot be used. Restore it (or move it out of {run}), then run "
            "the command again."
        )


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError as error:
        raise UserError(
            f"The run folder {folder} cannot be listed ({error.strerror}). Restore its permissions, then run the "
            "command again."
        ) from None


@contextmanager
def owned(run: Path | None, then: str) -> Iterator[None]:
    """Own ``run`` (see ``take_ownership``) while a command writes into it, and give it back after; None is no run."""
    already = run is None or run.absolute() in _held
    if run is not None:
        take_ownership(run, then)
    try:
        yield
    finally:
        if not already:
            _held.pop(run.absolute()).close()


@contextmanager
def given_back_on_failure() -> Iterator[None]:
    """The lifetime of a run folder that a command claims: claimed in this block (a new run), it is removed again if
    the block fails before anything was saved in it (``remove_if_unused``). A run saved in, or resumed, is kept."""
    before = set(_held)
    try:
        yield
    except BaseException:
        for run in set(_held) - before:
            remove_if_unused(run)
        raise


def run_config(run: Path) -> dict[str, Any]:
    """The settings in the run's ``config.yaml``, as given to its fit (an old run's read as today's); empty where it
    has none (a run fitted from Python, or one whose file was moved away).

    Raises:
        YAMLFileError: the file is there but is not a run's settings.
    """
    path = run / CONFIG_FILE
    if not os.path.lexists(path):
        return {}
    settings = read_yaml(path, CONFIG_FIX)
    if not isinstance(settings, dict) or not isinstance(settings.get("trainer", {}), dict):
        raise YAMLFileError(f"{path} is not a run's settings (a mapping with trainer, model and data). {CONFIG_FIX}")
    return upgrade_config(settings)


def setting_refused(run: Path, refused: ConfigError) -> ConfigError:
    """A value of the run's ``config.yaml`` that a check of the command line refused (its problem names the key as
    ``--KEY``), said as that file's: its path and the key."""
    problem = f"{run / CONFIG_FILE}: {refused.problem.removeprefix('--')}"
    return ConfigError(f"{problem} Correct that key in the file, or {CONFIG_FIX[0].lower()}{CONFIG_FIX[1:]}", problem)


def in_use(run: Path) -> bool:
    """Whether a live process owns ``run`` (this one included)."""
    if run.absolute() in _held:
        return True
    try:
        handle = try_lock(run / LOCK_NAME, shared=True, create=False)
    except FileNotFoundError:
        return False
    if handle is None:
        return True
    handle.close()
    return False


def remove_if_unused(run: Path) -> None:
    """Remove a run folder that this process owns and that holds no checkpoint: a run that stopped before it saved
    anything. Left there, it would only hide the runs before it."""
    if run.absolute() in _held and not any(checkpoint_folder(run).glob("*.ckpt")):
        _held.pop(run.absolute()).close()
        shutil.rmtree(run, ignore_errors=True)
        if run.absolute().parent in _created_roots and not any(run.parent.iterdir()):
            run.parent.rmdir()


def checkpoints_newest_first(run: Path) -> list[Path]:
    """Every ``*.ckpt`` entry of the run's checkpoints folder, newest first: a broken link among them too, which
    ``read_checkpoint`` then refuses by name. A checkpoints entry that is not a folder is refused by name, not taken
    for a run without checkpoints."""
    folder = checkpoint_folder(run)
    if os.path.lexists(folder) and not folder.is_dir():
        check_run_files(run)
    return sorted(folder.glob("*.ckpt"), key=_modified, reverse=True)


def _modified(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:  # a broken link: its own time
        return path.lstat().st_mtime_ns


def newest_valid_checkpoint(run: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint of ``run`` that reads back whole, warning about newer ones passed over; None if none."""
    refused = []
    for path in checkpoints_newest_first(run):
        try:
            checkpoint = read_checkpoint(path)
        except CheckpointError as error:
            refused.append(error)
            continue
        for error in refused:
            print(f"warning: {error.path} {error.problem}; using {path}, the newest valid checkpoint.", file=sys.stderr)
        return path, checkpoint
    if refused:
        raise NothingToResume(
            f"{checkpoint_folder(run)} holds no readable checkpoint: "
            + "; ".join(f"{error.path.name} {error.problem}" for error in refused)
            + ". Start a new run without --ckpt_path."
        )
    return None


def last_checkpoint(root: Path) -> tuple[Path, dict[str, Any]]:
    """The newest valid checkpoint of the newest run under ``root`` that has one: what ``last`` means everywhere.

    Runs that hold no checkpoint (stopped before their first save) are passed over, so they never hide a good run.
    """
    for run in runs_newest_first(root):
        found = newest_valid_checkpoint(run)
        if found is not None:
            return found
    raise NothingToResume(
        f"There is no checkpoint to use as 'last': no run under {root} holds one. Train a model first "
        "(python -m lit_rnn.fit), run this from the folder you trained in, or give a .ckpt file."
    )


def best_in(run: Path, checkpoint: dict[str, Any]) -> Path | None:
    """The best checkpoint of ``run`` as its ``ModelCheckpoint`` ranked it in ``checkpoint``, found in the run's own
    folder wherever the run now is; None when the run has none (no validation yet, or ``save_top_k 0``)."""
    recorded = best_model_path(checkpoint)
    best = checkpoint_folder(run) / Path(recorded).name if recorded else None
    return best if best is not None and best.is_file() else None


def best_checkpoint(root: Path) -> Path:
    """The best checkpoint of the newest run under ``root`` that has one."""
    for run in runs_newest_first(root):
        found = newest_valid_checkpoint(run)
        best = found and best_in(run, found[1])
        if best:
            return best
    raise NothingToResume(
        f"There is no best checkpoint under {root}: no run there has validated a model yet. Train one first "
        "(python -m lit_rnn.fit), run this from the folder you trained in, or give --ckpt_path last or a .ckpt file."
    )
