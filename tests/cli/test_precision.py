"""Precision follows the hardware: ``auto`` picks bfloat16 only where it is native, an explicit bfloat16 request
that the hardware cannot run is one clear refusal, and a run trained in bfloat16 elsewhere is still evaluated here."""

import logging

import pytest
import torch
from helpers.cli import cli_in_process
from helpers.commands import tiny_fit_args

from lit_rnn.base.errors import ConfigError
from lit_rnn.base.private_apis import cpu_has_native_bf16
from lit_rnn.cli import precision
from lit_rnn.cli.lightning_cli import CONFIG_DIR

BF16_REQUESTS = ["bf16", "bf16-mixed", "bf16-true"]
OTHER_PRECISIONS = [None, 32, "32", "32-true", 64, "64-true"]
HALF_PRECISIONS = [16, "16", "16-mixed", "16-true"]
needs_bf16 = pytest.mark.skipif(
    not cpu_has_native_bf16(), reason="this CPU has no AVX512_BF16 or AMX: no bfloat16 LSTM"
)


@pytest.fixture(params=[True, False], ids=["bf16-cpu", "avx2-cpu"])
def cpu_bf16(request, monkeypatch) -> bool:
    """Both kinds of CPU, whichever this one is."""
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: request.param)
    return request.param


def test_auto_is_bfloat16_exactly_where_the_cpu_has_it(cpu_bf16):
    assert precision.resolve("auto", "cpu") == ("bf16-mixed" if cpu_bf16 else "32-true")
    assert ("AVX512_BF16" in precision.why("cpu")) is not cpu_bf16


@pytest.mark.parametrize("requested", BF16_REQUESTS)
def test_bfloat16_asked_for_runs_where_native_and_is_refused_in_one_line_elsewhere(cpu_bf16, requested):
    if cpu_bf16:
        assert precision.resolve(requested, "cpu") == requested
        return
    with pytest.raises(ConfigError) as refused:
        precision.resolve(requested, "cpu")
    message = str(refused.value)
    assert f"'{requested}'" in message and "AVX512_BF16" in message and "--trainer.precision auto" in message
    assert "\n" not in message


@pytest.mark.parametrize("requested", OTHER_PRECISIONS)
def test_other_precisions_pass_unchanged_on_every_cpu(cpu_bf16, requested):
    assert precision.resolve(requested, "cpu") == requested


@pytest.mark.parametrize("requested", HALF_PRECISIONS)
def test_float16_is_refused_on_a_cpu_and_passed_on_to_a_gpu(cpu_bf16, requested):
    with pytest.raises(ConfigError, match=rf"--trainer.precision is {requested!r}, but it must be 32-true on a CPU"):
        precision.resolve(requested, "cpu")
    assert precision.resolve(requested, "cuda") == requested


def test_a_run_trained_in_bfloat16_elsewhere_is_evaluated_in_32_bit_here_with_a_line_saying_so(cpu_bf16, caplog):
    with caplog.at_level(logging.INFO):
        chosen = precision.to_evaluate("bf16-mixed", "cpu")
    assert chosen == ("bf16-mixed" if cpu_bf16 else "32-true")
    assert ("evaluating in 32-true" in caplog.text) is not cpu_bf16
    assert precision.to_evaluate("auto", "cpu") == "auto" and precision.to_evaluate(None, "cpu") is None


def test_the_shipped_best_config_builds_on_every_cpu_and_says_what_auto_chose(
    cpu_bf16, tiny_mnist, tmp_path, monkeypatch, caplog
):
    args = ["--config", str(CONFIG_DIR / "best.yaml"), *tiny_fit_args(tiny_mnist), "--trainer.fast_dev_run=1"]
    with caplog.at_level(logging.INFO):
        cli = cli_in_process(tmp_path, monkeypatch, args)
    assert cli.trainer.precision == ("bf16-mixed" if cpu_bf16 else "32-true")
    assert f"Precision auto: {cli.trainer.precision}" in caplog.text


def test_fit_refuses_bfloat16_and_leaves_no_run_folder(tiny_mnist, tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    with pytest.raises(ConfigError, match="AVX512_BF16"):
        cli_in_process(tmp_path, monkeypatch, [*tiny_fit_args(tiny_mnist), "--trainer.precision=bf16-mixed"])
    assert not any((tmp_path / "lightning_logs").glob("version_*"))


@needs_bf16
def test_a_bfloat16_step_of_the_best_config_trains_where_the_cpu_has_it(tiny_mnist, tmp_path, monkeypatch):
    args = ["--config", str(CONFIG_DIR / "best.yaml"), *tiny_fit_args(tiny_mnist), "--trainer.fast_dev_run=1"]
    cli = cli_in_process(tmp_path, monkeypatch, args)
    before = [parameter.detach().clone() for parameter in cli.model.parameters()]
    cli.trainer.fit(cli.model, cli.datamodule)
    assert cli.trainer.precision == "bf16-mixed" and cli.trainer.global_step == 1
    assert all(not torch.equal(old, new) for old, new in zip(before, cli.model.parameters()))
