"""The private parts of Lightning, PyTorch and Python that lit_rnn relies on, each in one place, because no public
route reaches them: Lightning's loops, progress counters, launchers, ``ModelCheckpoint``'s saved state, its flattening
of settings, PyTorch's CPU probes, and ``atexit``'s handlers.

Each one changes only lit_rnn's own objects (its Trainer's fit loop and launcher), or only reads: no function or class
of a dependency is rebound for the process. Each is in the register of ``docs/design.md`` with what it buys and the
versions it is tested on, and has a test in ``tests/base/test_private_apis.py`` that fails loudly when the dependency
changes it. LitServe's, used by the server alone, are in ``serving/`` (an optional extra this module cannot import).
"""

import atexit
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.strategies.launchers.subprocess_script import _ChildProcessObserver
from lightning.fabric.utilities.distributed import _set_num_threads_if_needed
from lightning.fabric.utilities.logger import _convert_params, _flatten_dict
from lightning.pytorch.loops.fit_loop import _FitLoop
from lightning.pytorch.loops.loop import _Loop
from lightning.pytorch.strategies.launchers import _MultiProcessingLauncher, _SubprocessScriptLauncher

from lit_rnn.base import child_errors, errors, interrupts


class _EpochExactFitLoop(_FitLoop):
    """Lightning's fit loop, resuming a run bounded by ``max_steps`` as exactly as one bounded by ``max_epochs``.

    Lightning marks a loop restored from a checkpoint as "restarting" when the checkpoint's epoch was unfinished,
    and always when ``max_steps`` is set. A checkpoint written at the end of an epoch (by ``on_train_epoch_end``)
    then counts that epoch twice: the resumed run runs its end again, and stops an epoch early.
    Here an epoch that had ended is an ended epoch, whatever bounds the run.
    """

    @_Loop.restarting.setter
    def restarting(self, restarting: bool) -> None:
        current = self.epoch_progress.current
        epoch_unfinished = any(value != current.processed for value in (current.ready, current.started))
        _Loop.restarting.fset(self, restarting and epoch_unfinished)


class QuickHookNames:
    """A LightningModule mix-in: Lightning's record of the hook it is running, kept without ``nn.Module``'s checks.

    Lightning sets ``_current_fx_name`` on the module before and after each hook it calls, about 45 times a training
    step. ``nn.Module.__setattr__`` first checks whether the value is a parameter, a buffer or a submodule, which a
    hook's name never is: 0.19 ms of CPU a training step (``benchmarks/step_overhead.py``), 5% of the default
    command's step. Here the name goes straight into the instance's ``__dict__``, where ``nn.Module`` would put it;
    only lit_rnn's own module is changed.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bfloat16 instructions (AVX512_BF16, or AMX's tiles with their bfloat16 products).

    PyTorch asks its own CPU-feature probe (cpuinfo) for these in ``torch.cpu``'s underscored helpers, the same ones
    oneDNN's choice of kernels follows; there is no public function, and reading ``/proc/cpuinfo`` works on Linux only.
    """
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def use_epoch_exact_fit_loop(trainer: L.Trainer) -> None:
    """Give ``trainer`` the fit loop above, with the limits and the epoch loop that it was built with."""
    loop = _EpochExactFitLoop(trainer, min_epochs=trainer.fit_loop.min_epochs, max_epochs=trainer.fit_loop.max_epochs)
    loop.epoch_loop = trainer.fit_loop.epoch_loop
    trainer.fit_loop = loop


def batches_begun_this_epoch(trainer: L.Trainer) -> int:
    """The training batches of the current epoch that Lightning has begun: on a resume, restored from the checkpoint
    with its loops, the one record of where in the epoch the run stopped."""
    return trainer.fit_loop.epoch_loop.batch_progress.current.ready


def on_last_batch(trainer: L.Trainer) -> bool:
    """Whether the training batch now running is the epoch's last, after which Lightning validates and ends the epoch."""
    return trainer.fit_loop.epoch_loop.batch_progress.is_last_batch


# The paths that ModelCheckpoint's saved state holds (its ``state_dict``), as written when they were saved.
MODEL_CHECKPOINT_PATHS = ("best_model_path", "kth_best_model_path", "last_model_path")


def best_model_path(checkpoint: dict[str, Any]) -> str | None:
    """The best checkpoint's path as the checkpoint's ``ModelCheckpoint`` state recorded it; None if it has none."""
    for state in checkpoint.get("callbacks", {}).values():
        if isinstance(state, dict) and state.get("best_model_path"):
            return state["best_model_path"]
    return None


def rebase_model_checkpoint_state(state: dict[str, Any], dirpath: str, rebased: Callable[[str], str]) -> dict[str, Any]:
    """``ModelCheckpoint``'s saved ``state`` with its folder set to ``dirpath`` and each path it holds passed through
    ``rebased`` (which gives "" for a file that is gone: its score is then forgotten too)."""
    best = rebased(state[MODEL_CHECKPOINT_PATHS[0]])
    best_k = {rebased(path): score for path, score in state.get("best_k_models", {}).items() if rebased(path)}
    return {
        **state,
        **{key: rebased(state.get(key, "")) for key in MODEL_CHECKPOINT_PATHS},
        "dirpath": dirpath,
        "best_model_score": state["best_model_score"] if best else None,
        "best_k_models": best_k,
    }


def take_back_sigterm_from_lightning() -> None:
    """Put the project's own SIGTERM and Ctrl-C handlers back (``interrupts``) at the start of training.

    Lightning's signal connector (``_SignalConnector``) wraps the SIGTERM handler when fit starts, in one that stops
    the run at the end of the batch, before the recovery checkpoint could save the step: with it, a SIGTERM would
    lose the step, so the plain handler is put back."""
    interrupts.install()


def run_exit_handlers() -> None:
    """Run the ``atexit`` handlers now, as the interpreter would at exit (logging, multiprocessing, temporary
    folders): for a process that then ends with ``os._exit``, skipping the teardown of every module."""
    atexit._run_exitfuncs()


def logged_step(trainer: L.Trainer) -> int:
    """The step at which Lightning logs epoch-end metrics, so that pictures logged beside them line up with them."""
    return trainer.fit_loop.epoch_loop._batches_that_stepped


def flat_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` flattened to ``a/b`` keys as Lightning's loggers flatten hyperparameters before logging them."""
    return _flatten_dict(_convert_params(settings))


def log_as_of(trainer: L.Trainer, checkpoint: dict[str, Any]) -> None:
    """Make ``trainer`` log at the step and epoch where ``checkpoint`` was saved, not at a new run's step 0.

    Lightning logs evaluation metrics at its count of optimizer steps and with its epoch; restoring its fit loop's
    progress from the checkpoint, as a resume does, gives the counts of the moment the weights were saved.
    """
    trainer.fit_loop.load_state_dict(checkpoint["loops"]["fit_loop"])


class _CarryingScriptLauncher(_SubprocessScriptLauncher):
    """``ddp``'s launcher, which runs the command again for each further process; the first process says a failed
    child's error as its own, once, with its exit code. Lightning's own kills the first process at once, and the user
    sees no line, or each process's copy of it."""

    def launch(self, function: Callable, *args: Any, trainer: L.Trainer | None = None, **kwargs: Any) -> Any:
        if self.cluster_environment.creates_processes_externally:  # a child, or processes started by torchrun or SLURM
            return super().launch(function, *args, trainer=trainer, **kwargs)
        self.cluster_environment.validate_settings(num_devices=self.num_processes, num_nodes=self.num_nodes)
        folder = child_errors.records_folder()
        child_errors.watch(folder)
        with child_errors.recorded_into(folder):
            self._call_children_scripts()
        _ChildErrorObserver(self.procs, folder).start()
        _set_num_threads_if_needed(num_processes=self.num_processes)
        return function(*args, **kwargs)


class _ChildErrorObserver(_ChildProcessObserver):
    """Lightning's watch over the children: when one fails, all are ended; here the first process says the error the
    failed child left, unless it said one of its own, and exits with its code."""

    def __init__(self, children: list, folder: Path) -> None:
        super().__init__(main_pid=os.getpid(), child_processes=children)
        self._folder = folder

    def _terminate_all(self) -> None:
        failed = next(child for child in self._child_processes if child.returncode)
        error = child_errors.recorded(self._folder, failed.pid)
        if error is None:  # a child killed by a signal, or stopped by one: Lightning's way
            super()._terminate_all()
            return
        exit_code = errors.report_for_child(error)
        for child in self._child_processes:
            child.send_signal(self._termination_signal)
        if exit_code is not None:  # else this process said its own error and is on its way out
            sys.stdout.flush()
            os._exit(exit_code)


def carry_child_errors(trainer: L.Trainer) -> None:
    """Give ``trainer`` the launcher above in place of Lightning's own of the same kind."""
    launcher = trainer.strategy.launcher
    if type(launcher) is _SubprocessScriptLauncher:
        trainer.strategy._launcher = _CarryingScriptLauncher(
            launcher.cluster_environment, launcher.num_processes, launcher.num_nodes
        )


def spawns_processes(trainer: L.Trainer) -> bool:
    """Whether the strategy starts its processes from inside the command (``ddp_spawn``, ``ddp_fork``,
    ``ddp_notebook``), runs fit in them, and hands the weights back through a file of its own."""
    return isinstance(trainer.strategy.launcher, _MultiProcessingLauncher)
