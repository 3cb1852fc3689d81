"""Which run a ``fit`` command is: a new run folder, or the run its ``--ckpt_path`` belongs to.

The plan is made before anything is built and without touching a file: the checkpoint is found, read and
checked against the config (a resume must see the data in the order the run saw it). Applying it claims or
takes the run folder and points everything that writes (logger, checkpoints, config) there, in one place.

A fit given ``--job_id`` (a Slurm job's ID, a torchrun ``--rdzv-id``) belongs to that job: its first fit starts a new
run and marks it with the ID; every later fit of the job (the same command again, as a requeued job or a restarted
worker group runs it) finds that run and goes on from its newest checkpoint, with nobody naming one.

Left to Lightning, ``ckpt_path="last"`` looks in the new run's empty ``version_N``, warns and trains from
scratch; a run resumed into its old folder shows in TensorBoard every step between its checkpoint and the
crash twice; and a checkpoint resumed from another folder keeps that folder's best checkpoint path.
"""

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
from jsonargparse import Namespace
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.utilities import rank_zero_only

from lit_rnn.base.class_paths import imported
from lit_rnn.base.errors import ConfigError, check_config
from lit_rnn.data.datamodule import MNISTDataModule
from lit_rnn.runs import folders as runs
from lit_rnn.runs.checkpointing import read_checkpoint
from lit_rnn.runs.logger_runs import (
    file_logger_configs,
    is_mlflow,
    logger_configs,
    point_loggers_at_run,
    use_local_mlflow_store,
)

JOB_FILE = "job_id"
"""In a run folder: the ``--job_id`` of the job whose fits train the run."""
DATA_ORDER = ("batch_size", "val_size", "split_seed")
"""The data settings that decide which images each step trains on: a resume must keep them."""


@dataclass(frozen=True)
class RunPlan:
    """Where a fit command writes and what it resumes from.

    Attributes:
        run: The run folder to continue; None for a new run under ``root``.
        root: Where new run folders are made.
        checkpoint_path: The checkpoint to resume from; None for a run from scratch.
        checkpoint: Its contents, read and checked.
    """

    root: Path
    run: Path | None = None
    checkpoint_path: Path | None = None
    checkpoint: dict[str, Any] | None = None


def runs_root(config: Namespace) -> Path:
    """The folder holding the ``version_N`` run folders: the first logger's ``save_dir/name``, else ``./lightning_logs``."""
    loggers = file_logger_configs(config)
    if not loggers:
        return runs.LOG_ROOT
    return Path(loggers[0].save_dir) / (getattr(loggers[0], "name", None) or "")


def plan_run(config: Namespace) -> RunPlan:
    """Decide where the run goes and check what it resumes from; reads files, writes none."""
    root = runs_root(config)
    job_id = config.get("job_id")
    if job_id is not None:
        check_config(
            job_id.strip() != "" and job_id.isprintable(),
            "job_id",
            job_id,
            "the job's ID on one line, such as $SLURM_JOB_ID inside a Slurm job (empty outside one)",
        )
        if config.ckpt_path is not None:
            raise ConfigError(
                f"--job_id {job_id} and --ckpt_path {config.ckpt_path} were both given: a job's fits go on from its "
                "run's newest checkpoint by themselves. Drop --ckpt_path (or --job_id, to resume that checkpoint)."
            )
        found = job_run_checkpoint(root, job_id)
        if found is None:
            return RunPlan(root)
        path, checkpoint = found
    elif config.ckpt_path is None:
        return RunPlan(root)
    elif config.ckpt_path == "last":
        path, checkpoint = runs.last_checkpoint(root)
    else:
        path = Path(config.ckpt_path)
        checkpoint = read_checkpoint(path)
    _check_resumable(config, path, checkpoint)
    return RunPlan(root, runs.run_of(path), path, checkpoint)


def job_run_checkpoint(root: Path, job_id: str) -> tuple[Path, dict[str, Any]] | None:
    """The newest valid checkpoint of the newest run under ``root`` marked with ``job_id``; None before the job's first
    save (a job stopped that early starts again as a new run)."""
    for run in runs.runs_newest_first(root):
        marker = run / JOB_FILE
        if marker.is_file() and marker.read_text().strip() == job_id:
            found = runs.newest_valid_checkpoint(run)
            if found is not None:
                return found
    return None


def _check_resumable(config: Namespace, path: Path, checkpoint: dict[str, Any]) -> None:
    epochs_done = checkpoint["epoch"]
    max_epochs = config.trainer.get("max_epochs")
    check_config(
        max_epochs in (None, -1) or max_epochs >= epochs_done,
        "trainer.max_epochs",
        max_epochs,
        f"at least {epochs_done}, the epochs {path} has already trained (more, to train on)",
    )
    # A run without a seed (--seed_everything false) is resumed without one too: it shuffles by its checkpoint's seed.
    seed = _saved_seed(checkpoint) if config.seed_everything is not False else {}
    saved = {**checkpoint.get("datamodule_hyper_parameters", {}), **seed}
    current = {**{key: config.data.get(key) for key in DATA_ORDER}, "seed_everything": config.seed_everything}
    changed = [
        f"--{'data.' if key in DATA_ORDER else ''}{key} {current[key]} (the run's: {saved[key]})"
        for key in current
        if key in saved and saved[key] != current[key]
    ]
    if changed:
        raise ConfigError(
            f"The resume would train on other batches than the run did: {', '.join(changed)}. Resume with the "
            f"run's own settings (its config.yaml: --config {path.parent.parent / 'config.yaml'}), or start a new run "
            "without --ckpt_path."
        )
    _check_same_network(config, path, checkpoint)


def network_changes(given: dict[str, Any], saved: dict[str, Any]) -> list[str]:
    """How the model settings ``given`` compute other than the ``saved`` ones (a run's): the network's class, each of
    its arguments the run saved, and the standardization of its input."""
    given_network, saved_network = given.get("network") or {}, saved.get("network") or {}
    if given_network.get("class_path") != saved_network.get("class_path"):
        return [f"--model.network {given_network.get('class_path')} (the run's: {saved_network.get('class_path')})"]
    given_args = given_network.get("init_args") or {}
    # A run saved before one of its network's settings existed trained with that setting's default.
    saved_args = {**_defaults(given_network.get("class_path")), **(saved_network.get("init_args") or {})}
    changes = [
        f"--model.network.{key} {given_args.get(key)!r} (the run's: {value!r})"
        for key, value in saved_args.items()
        if key in given_args and given_args[key] != value
    ]
    saved_standardized = saved.get("normalize_input", False)
    if given.get("normalize_input", False) != saved_standardized:
        changes.append(f"--model.normalize_input {not saved_standardized} (the run's: {saved_standardized})")
    return changes


def _defaults(class_path: Any) -> dict[str, Any]:
    """The default arguments of the network class the command line names (jsonargparse has imported it)."""
    network = imported(class_path) if isinstance(class_path, str) else None
    if network is None:
        return {}
    parameters = inspect.signature(network).parameters.values()
    return {parameter.name: parameter.default for parameter in parameters if parameter.default is not parameter.empty}


def _check_same_network(config: Namespace, path: Path, checkpoint: dict[str, Any]) -> None:
    """Refuse a resume whose network would compute other than the run's: even where the weights' shapes agree (a
    crop, a standardization), the run would go on as another experiment under its old name."""
    saved = checkpoint.get("hyper_parameters")
    changed = network_changes(config.model.as_dict(), saved) if isinstance(saved, dict) else []
    if changed:
        raise ConfigError(
            f"The resume would train another network than the run did: {', '.join(changed)}. Resume with the run's "
            f"own settings (its config.yaml: --config {path.parent.parent / 'config.yaml'}), or start a new run "
            "without --ckpt_path."
        )


def _saved_seed(checkpoint: dict[str, Any]) -> dict[str, Any]:
    state = checkpoint.get(MNISTDataModule.__qualname__, {})
    return {"seed_everything": state["shuffle_seed"]} if "shuffle_seed" in state else {}


def apply_plan(plan: RunPlan, config: Namespace) -> Path | None:
    """Take the run folder (a new one is claimed) and point the loggers, the checkpoints and the config there.

    Only the first process of a distributed run claims and locks; the others learn the folder from it.

    Returns:
        The run folder, or None on processes other than the first of a new run, and in a ``fast_dev_run``.
    """
    if plan.checkpoint_path is not None:
        config.ckpt_path = str(plan.checkpoint_path)
    mlflow_loggers = [logger.init_args for logger in logger_configs(config) if is_mlflow(logger)]
    for init_args in mlflow_loggers:
        use_local_mlflow_store(init_args, plan.root)
    if config.trainer.get("fast_dev_run"):
        return None  # a smoke test: Lightning writes no logs and no checkpoints
    first = rank_zero_only.rank == 0
    if plan.run is None:
        if not first:
            return None
        run = runs.claim_new_run(plan.root)
        if config.get("job_id") is not None:
            (run / JOB_FILE).write_text(f"{config.job_id}\n")
    else:
        run = plan.run
        if first:
            runs.take_ownership(run)
    config.trainer.default_root_dir = str(run)
    config.checkpoint.dirpath = str(runs.checkpoint_folder(run))
    point_loggers_at_run(config, run, plan.checkpoint["global_step"] if plan.run is not None else None)
    return run


class KeepConfigWhenResuming(SaveConfigCallback):
    """Saves the run's ``config.yaml`` into its run folder, except into a resumed run's (a job's included), where the
    original one is kept.

    The run folder is the Trainer's ``default_root_dir`` (``apply_plan``), not Lightning's ``log_dir``, which is
    MLflow's store, or nothing, when MLflow is the first logger.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs, save_to_log_dir=False)

    def save_config(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        path = Path(trainer.default_root_dir) / self.config_filename
        resumed = self.config.get("ckpt_path") is not None or self.config.get("job_id") is not None
        if resumed and path.exists():
            return
        self.parser.save(self.config, str(path), skip_none=False, overwrite=self.overwrite, multifile=self.multifile)
