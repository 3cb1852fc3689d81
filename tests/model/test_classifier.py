"""The LightningModule refuses a learning rate that cannot train, stops a run whose weights stop being numbers, and clips
the gradients of a fused optimizer wherever no loss scale forbids it."""

import math
import warnings
from pathlib import Path

import lightning as L
import pytest
import torch
from helpers.commands import tiny_fit_args
from helpers.mnist import make_mnist
from lightning.pytorch.plugins.precision import MixedPrecision

from lit_rnn.base.errors import ConfigError
from lit_rnn.fit import main
from lit_rnn.model.classifier import MNISTClassifier
from lit_rnn.model.networks.recurrent import RecurrentNetwork
from lit_rnn.runs.checkpointing import read_checkpoint

SHORT_RUN = (
    "--trainer.max_epochs=1",
    "--trainer.limit_train_batches=3",
    "--trainer.limit_val_batches=1",
    "--trainer.num_sanity_val_steps=0",
    "--recovery.every_n_steps=1",
    "--data.val_size=20",
)


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    make_mnist(tmp_path / "data", train_count=120, test_count=20)
    return tmp_path


def fit_fails(capsys, *args: str) -> tuple[int, str]:
    """Run fit in-process; returns its exit code and its one error line."""
    with pytest.raises(SystemExit) as exit:
        main(tiny_fit_args(Path("data"), *SHORT_RUN, *args))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    return exit.value.code, line


@pytest.mark.parametrize("value", [".inf", ".nan", "-.inf"])
def test_a_non_finite_learning_rate_in_yaml_is_refused(workspace, capsys, value):
    (workspace / "lr.yaml").write_text(
        f"model:\n  optimizer:\n    class_path: torch.optim.Adam\n    init_args:\n      lr: {value}\n"
    )
    code, line = fit_fails(capsys, "--config=lr.yaml")
    assert code == 2 and "--model.optimizer.lr is" in line and "must be a finite positive number" in line
    assert not (workspace / "lightning_logs").exists()


def test_a_run_whose_weights_overflow_stops_at_that_step_and_saves_none_of_them(workspace, capsys):
    code, line = fit_fails(capsys, "--model.optimizer.lr=1e300")
    assert code == 1
    assert line.startswith(
        "error: Training diverged at step 1: the weights, and so the training loss, are no longer "
        "finite numbers (NaN or infinite), with the learning rate at 1e+300."
    )
    assert "earlier checkpoints are kept" in line and "lower learning rate" in line
    checkpoints = list((workspace / "lightning_logs" / "version_0" / "checkpoints").iterdir())
    assert [path.name for path in checkpoints] == ["recovery.ckpt"]  # the one written as training began
    weights = {
        name: weight
        for name, weight in read_checkpoint(checkpoints[0])["state_dict"].items()
        if name.startswith("network.")
    }
    assert weights and all(torch.isfinite(weight).all() for weight in weights.values())


def test_a_sane_learning_rate_trains_and_its_loss_stays_finite(workspace, capsys):
    metrics = main(tiny_fit_args(Path("data"), *SHORT_RUN))
    assert math.isfinite(metrics["test/loss"])


def test_the_divergence_check_finds_one_non_finite_weight_and_no_overflow_in_finite_ones():
    from lit_rnn.model.classifier import _all_finite

    huge = torch.full((1000,), 3.0e38)  # finite float32 weights whose float32 sum would overflow to inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # weights that require gradients are read without a word about it
        assert _all_finite([torch.nn.Parameter(huge), torch.zeros(3)])
    for bad in (math.nan, math.inf, -math.inf):
        weights = torch.zeros(10)
        weights[7] = bad
        assert not _all_finite([huge, weights])


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_label_smoothing_softens_the_training_loss_alone(smoothing):
    torch.manual_seed(0)
    model = MNISTClassifier(RecurrentNetwork(hidden_size=8), label_smoothing=smoothing)
    batch = (torch.rand(6, 28, 28), torch.tensor([0, 1, 2, 3, 4, 5]))
    logits = model(batch[0])
    plain = torch.nn.functional.cross_entropy(logits, batch[1])
    smoothed = torch.nn.functional.cross_entropy(logits, batch[1], label_smoothing=smoothing)
    torch.testing.assert_close(model._common_step(batch, "train", measure=False)[0], smoothed)
    torch.testing.assert_close(model._common_step(batch, "val")[0], plain)
    torch.testing.assert_close(model._common_step(batch, "test")[0], plain)


@pytest.mark.parametrize("smoothing", [1.0, -0.1, float("nan"), True, "0.1"])
def test_label_smoothing_outside_0_to_1_is_refused(smoothing):
    with pytest.raises(ConfigError) as error:
        MNISTClassifier(label_smoothing=smoothing)
    assert error.value.problem.startswith(f"--model.label_smoothing is {smoothing!r}, but it must be in [0, 1)")


def _clipped_gradients(
    precision: str, algorithm: str, scaler: torch.amp.GradScaler | None = None
) -> list[torch.Tensor]:
    """The gradients (all 3.0 before) after the model's clipping at 0.5 for a fused AdamW, under ``precision``."""
    model = MNISTClassifier()
    trainer = L.Trainer(
        precision=precision, gradient_clip_val=0.5, gradient_clip_algorithm=algorithm, logger=False, accelerator="cpu"
    )
    if scaler is not None:
        trainer.strategy.precision_plugin = MixedPrecision("16-mixed", "cpu", scaler)
    model.trainer = trainer
    optimizer = torch.optim.AdamW(model.parameters(), fused=True)
    for parameter in model.parameters():
        parameter.grad = torch.full_like(parameter, 3.0)
    model.configure_gradient_clipping(optimizer, trainer.gradient_clip_val, trainer.gradient_clip_algorithm)
    return [parameter.grad for parameter in model.parameters()]


@pytest.mark.parametrize("precision", ["bf16-mixed", "32-true"])
def test_a_fused_optimizer_has_its_gradients_clipped_by_norm_without_a_loss_scale(precision):
    gradients = _clipped_gradients(precision, "norm")
    assert torch.linalg.vector_norm(torch.cat([g.flatten() for g in gradients])).item() == pytest.approx(0.5, rel=1e-4)


def test_a_fused_optimizer_has_its_gradients_clipped_by_value_in_bfloat16():
    assert all(bool((gradient == 0.5).all()) for gradient in _clipped_gradients("bf16-mixed", "value"))


def test_a_fused_optimizer_is_still_refused_clipping_under_a_float16_loss_scale():
    with pytest.raises(RuntimeError, match="fused"):
        _clipped_gradients("32-true", "norm", scaler=torch.amp.GradScaler("cpu"))
