"""Each private Lightning API that lit_rnn relies on, checked against the installed Lightning: if one of these fails,
Lightning changed under the project, and ``lit_rnn/base/private_apis.py`` says what relied on it. PyTorch's and
Python's private parts that the project uses are checked here too."""

import inspect
import re
import signal
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.loops.fit_loop import _FitLoop
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from lit_rnn.base import interrupts
from lit_rnn.base.private_apis import (
    MODEL_CHECKPOINT_PATHS,
    QuickHookNames,
    _EpochExactFitLoop,
    batches_begun_this_epoch,
    best_model_path,
    cpu_has_native_bf16,
    flat_settings,
    log_as_of,
    logged_step,
    on_last_batch,
    rebase_model_checkpoint_state,
    take_back_sigterm_from_lightning,
    use_epoch_exact_fit_loop,
)
from lit_rnn.logs.outputs import write_hparams
from lit_rnn.model.classifier import step_is_logged


def test_the_fit_loop_still_forces_restarting_for_max_steps_and_takes_the_epoch_exact_one():
    # What the override corrects: Lightning's setter marks every restored run bounded by max_steps as restarting.
    assert "_iteration_based_training()" in inspect.getsource(_FitLoop.restarting.fset)
    trainer = L.Trainer(max_steps=7, max_epochs=3, min_epochs=1, logger=False, enable_checkpointing=False)
    epoch_loop = trainer.fit_loop.epoch_loop
    use_epoch_exact_fit_loop(trainer)
    loop = trainer.fit_loop
    assert isinstance(loop, _EpochExactFitLoop) and loop.epoch_loop is epoch_loop
    assert (loop.max_epochs, loop.min_epochs, loop.max_steps) == (3, 1, 7)
    for counter in ("ready", "started", "processed", "completed"):
        setattr(loop.epoch_progress.current, counter, 2)
    loop.restarting = True  # restored at the end of an epoch
    assert not loop.restarting and not loop.epoch_loop.restarting
    loop.epoch_progress.current.ready = loop.epoch_progress.current.started = 3
    loop.restarting = True  # restored in the middle of an epoch
    assert loop.restarting and loop.epoch_loop.restarting


class Probe(L.Callback):
    def __init__(self) -> None:
        self.logged_steps, self.epoch_end_steps = [], []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.logged_steps.append(step_is_logged(trainer))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.epoch_end_steps.append((logged_step(trainer), trainer.global_step))


def test_lightning_still_names_the_running_hook_on_the_module_and_the_quick_setter_stores_it_as_nn_module_would():
    from lightning.pytorch.trainer import call

    # What the mix-in speeds up: Lightning's hook callers set the attribute on the module around each call.
    for caller in (call._call_lightning_module_hook, call._call_callback_hooks):
        assert "pl_module._current_fx_name = hook_name" in inspect.getsource(caller)

    class Quick(QuickHookNames, BoringModel):
        pass

    quick, plain = Quick(), BoringModel()
    for module in (quick, plain):
        module._current_fx_name = "training_step"
        module.extra = torch.nn.Parameter(torch.zeros(1))  # anything else still goes through nn.Module
    assert quick.__dict__["_current_fx_name"] == plain.__dict__["_current_fx_name"] == "training_step"
    assert "_current_fx_name" not in quick._parameters and "_current_fx_name" not in quick._modules
    assert "extra" in quick._parameters and [name for name, _ in quick.named_parameters()] == [
        name for name, _ in plain.named_parameters()
    ]


def test_the_logging_step_helpers_follow_lightnings_own_logging(tmp_path):
    probe = Probe()
    logger = TensorBoardLogger(tmp_path, name="", version="run", default_hp_metric=False)
    trainer = L.Trainer(
        max_epochs=2,
        limit_train_batches=5,
        limit_val_batches=0,
        log_every_n_steps=2,
        logger=logger,
        callbacks=[probe],
        enable_checkpointing=False,
        enable_progress_bar=False,
    )
    trainer.fit(BoringModel())
    # Lightning writes step metrics when (steps done + 1) is a multiple of log_every_n_steps.
    assert probe.logged_steps == [False, True, False, True, False, True, False, True, False, True]
    assert probe.epoch_end_steps == [
        (5, 5),
        (10, 10),
    ]  # the optimizer steps taken, as Lightning counts them for loggers
    write_hparams(logger, {"model": {"hidden_size": 8}, "lr": 0.1}, ["val/acc"])
    logger.experiment.flush()
    content = EventAccumulator(str(tmp_path / "run")).Reload().PluginTagToContent("hparams")
    session = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert session.hparams["model/hidden_size"].number_value == 8 and session.hparams["lr"].number_value == 0.1


class LoggingTest(BoringModel):
    def test_step(self, batch, batch_idx):
        self.log("test/loss", self.step(batch))


def test_an_evaluation_logs_at_the_step_and_epoch_of_the_checkpoint_it_restores(tmp_path):
    fit = L.Trainer(
        max_epochs=2,
        limit_train_batches=3,
        limit_val_batches=0,
        logger=False,
        default_root_dir=tmp_path,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    fit.fit(LoggingTest())
    (path,) = (tmp_path / "checkpoints").glob("*.ckpt")
    checkpoint = torch.load(path, weights_only=True)
    assert (checkpoint["global_step"], checkpoint["epoch"]) == (6, 1)
    logger = TensorBoardLogger(tmp_path, name="", version="run", default_hp_metric=False)
    trainer = L.Trainer(logger=logger, enable_progress_bar=False, enable_model_summary=False)
    log_as_of(trainer, checkpoint)
    assert logged_step(trainer) == 6
    trainer.test(LoggingTest(), verbose=False)
    logger.experiment.flush()
    scalars = EventAccumulator(str(tmp_path / "run")).Reload()
    assert [(event.step, event.value) for event in scalars.Scalars("epoch")] == [(6, 1)]
    assert [event.step for event in scalars.Scalars("test/loss")] == [6]


def test_settings_are_flattened_to_the_keys_mlflow_gets_from_lightning(tmp_path, monkeypatch):
    from lightning.pytorch.loggers import MLFlowLogger
    from mlflow.tracking import MlflowClient

    settings = {"model": {"hidden_size": 8, "optimizer": {"lr": 0.1}}, "cell": "lstm"}
    assert flat_settings(settings) == {"model/hidden_size": 8, "model/optimizer/lr": 0.1, "cell": "lstm"}
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # MLflow sets it for its store: undone after, as for the tests' fits
    logger = MLFlowLogger(tracking_uri=uri, artifact_location=str(tmp_path))
    logger.log_hyperparams(settings)
    params = MlflowClient(logger.experiment.tracking_uri).get_run(logger.run_id).data.params
    assert params == {key: str(value) for key, value in flat_settings(settings).items()}


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="the CPU's flags are read from Linux's /proc/cpuinfo")
def test_torchs_bfloat16_probe_agrees_with_the_cpus_own_flags():
    flags = set(re.search(r"^flags\s*:(.*)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE).group(1).split())
    assert cpu_has_native_bf16() is bool(flags & {"avx512_bf16", "amx_bf16"})


class BatchProgress(L.Callback):
    def __init__(self) -> None:
        self.seen: list[tuple[int, int, bool]] = []
        self.sigterm_handler = None

    def on_train_start(self, trainer, pl_module):
        self.sigterm_handler = signal.getsignal(signal.SIGTERM)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.seen.append((batch_idx, batches_begun_this_epoch(trainer), on_last_batch(trainer)))


def test_the_batch_progress_reads_count_the_epochs_batches_and_see_its_last(tmp_path):
    probe = BatchProgress()
    trainer = L.Trainer(
        default_root_dir=tmp_path,
        max_epochs=2,
        limit_train_batches=3,
        limit_val_batches=0,
        callbacks=[probe],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
    )
    trainer.fit(BoringModel())
    assert probe.seen == [(0, 1, False), (1, 2, False), (2, 3, True)] * 2


def test_lightning_still_wraps_sigterm_at_the_start_of_fit_and_the_projects_handler_can_be_put_back(tmp_path):
    probe = BatchProgress()
    trainer = L.Trainer(
        default_root_dir=tmp_path,
        max_steps=1,
        limit_val_batches=0,
        callbacks=[probe],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
    )
    before = signal.getsignal(signal.SIGTERM)
    try:
        interrupts.install()
        trainer.fit(BoringModel())
        assert probe.sigterm_handler is not interrupts._handle  # Lightning's wrapper, not ours
        assert type(probe.sigterm_handler).__name__ == "_HandlersCompose"
        take_back_sigterm_from_lightning()
        assert signal.getsignal(signal.SIGTERM) is interrupts._handle
    finally:
        signal.signal(signal.SIGTERM, before)
        signal.signal(signal.SIGINT, signal.default_int_handler)


class ValidationLoss(BoringModel):
    def validation_step(self, batch, batch_idx):
        self.log("valid_loss", self.step(batch))


def test_model_checkpoint_still_saves_the_paths_read_and_rebased_here(tmp_path):
    callback = ModelCheckpoint(dirpath=tmp_path / "old", monitor="valid_loss", save_last=True)
    trainer = L.Trainer(
        default_root_dir=tmp_path,
        max_epochs=2,
        limit_train_batches=2,
        limit_val_batches=1,
        callbacks=[callback],
        logger=False,
        enable_progress_bar=False,
    )
    trainer.fit(ValidationLoss())
    state = callback.state_dict()
    assert set(MODEL_CHECKPOINT_PATHS) | {"best_model_score", "best_k_models", "dirpath"} <= set(state)
    checkpoint = torch.load(callback.last_model_path, weights_only=False)
    assert best_model_path(checkpoint) == callback.best_model_path != ""
    moved = rebase_model_checkpoint_state(state, str(tmp_path / "new"), lambda path: f"new/{Path(path).name}")
    assert moved["best_model_path"] == f"new/{Path(callback.best_model_path).name}" and moved["dirpath"].endswith("new")
    assert all(path.startswith("new/") for path in moved["best_k_models"])
    assert rebase_model_checkpoint_state(state, "x", lambda path: "")["best_model_score"] is None  # its file is gone
    fresh = ModelCheckpoint(dirpath=tmp_path / "new", monitor="valid_loss")
    fresh.load_state_dict(moved)
    assert fresh.best_model_path == moved["best_model_path"]


EXIT_HANDLERS = """
import atexit, os
from lit_rnn.base.private_apis import run_exit_handlers
atexit.register(print, "handler ran", flush=True)
run_exit_handlers()
run_exit_handlers()  # the handlers ran and were cleared, as at the interpreter's exit
os._exit(0)  # which runs none
"""


@pytest.mark.slow  # a process of its own: the test's process must keep its own exit handlers
def test_the_exit_handlers_run_when_asked_and_once():
    result = subprocess.run([sys.executable, "-c", EXIT_HANDLERS], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout == "handler ran\n", result.stderr[-2000:]


def _dependency_functions_and_classes() -> dict[tuple[str, str], int]:
    """Every function and class that a module of lit_rnn's dependencies holds, by module and name."""
    held = {}
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] in ("lightning", "torch", "torchmetrics", "jsonargparse", "tensorboard") and module:
            for attribute, value in list(vars(module).items()):
                if inspect.isfunction(value) or inspect.isclass(value):
                    held[name, attribute] = id(value)
    return held


def test_a_fit_rebinds_no_function_or_class_of_a_dependency(tiny_mnist, tmp_path, monkeypatch):
    """lit_rnn's changes to Lightning's behaviour stay on its own objects: another Trainer in the same process (a
    notebook's, a test suite's) runs Lightning as installed."""
    from helpers.cli import fit_in_process

    import lit_rnn.cli.lightning_cli  # noqa: F401  (imports what a fit imports, before the picture is taken)

    before = _dependency_functions_and_classes()
    fit_in_process(tiny_mnist, tmp_path, monkeypatch, "--trainer.max_epochs=1")
    after = _dependency_functions_and_classes()
    assert [key for key, held in before.items() if after.get(key, held) != held] == []
