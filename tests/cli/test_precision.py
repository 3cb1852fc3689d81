"""Precision follows the hardware: ``auto`` picks bfloat16 only where it is native, an explicit bfloat16 request
that the hardware cannot run is one clear refusal, and a run trained in bfloat16 elsewhere is still evaluated here."""

import inspect
import logging
import sys
from pathlib import Path
from typing import get_args

import pytest
import torch
import yaml
from helpers.cli import cli_in_process
from helpers.commands import tiny_fit_args
from lightning.pytorch import Trainer

from lit_rnn import export, fit, predict, test
from lit_rnn.base.errors import ConfigError
from lit_rnn.base.private_apis import cpu_has_native_bf16
from lit_rnn.cli import precision
from lit_rnn.cli.lightning_cli import CONFIG_DIR

# Every value of Lightning's Trainer's precision (the literals of its annotation), and what it does on a CPU: trains
# with its weights in that dtype, trains where the CPU computes bfloat16 (else refused naming the instructions), or
# is refused by a line that says why. A value a newer Lightning adds fails the test until it is classed here.
ON_A_CPU = {
    **dict.fromkeys([64, "64", "64-true"], torch.float64),
    **dict.fromkeys([32, "32", "32-true"], torch.float32),
    **dict.fromkeys(["bf16", "bf16-mixed"], "bf16 float32"),  # the weights stay 32-bit under autocast
    "bf16-true": "bf16 bfloat16",
    **dict.fromkeys([16, "16", "16-mixed"], "Lightning trains 16-mixed as bf16-mixed on a CPU"),
    "16-true": "Adam's eps of 1e-8 is 0 in float16",
    **dict.fromkeys(["transformer-engine", "transformer-engine-float16"], "on NVIDIA GPUs only"),
}
TRAINED = [value for value, outcome in ON_A_CPU.items() if not isinstance(outcome, str) or outcome.startswith("bf16")]
REFUSED = [value for value in ON_A_CPU if value not in TRAINED]
BF16_REQUESTS = [value for value in TRAINED if precision.is_bf16(value)]
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


def test_the_table_holds_every_precision_lightnings_trainer_takes():
    annotation = inspect.signature(Trainer.__init__).parameters["precision"].annotation
    literals = [value for literal in get_args(annotation) for value in get_args(literal)]  # None aside
    assert sorted(map(repr, literals)) == sorted(map(repr, ON_A_CPU)) == sorted(map(repr, precision.ACCEPTED))


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


@pytest.mark.parametrize("requested", [None, *(value for value in TRAINED if value not in BF16_REQUESTS)])
def test_32_and_64_bit_precisions_pass_unchanged_on_every_cpu_and_gpu(cpu_bf16, requested):
    assert precision.resolve(requested, "cpu") == requested == precision.resolve(requested, "cuda")


@pytest.mark.parametrize("requested", REFUSED)
def test_float16_and_transformer_engine_are_refused_on_a_cpu_in_one_line_saying_why(cpu_bf16, requested):
    with pytest.raises(ConfigError) as refused:
        precision.resolve(requested, "cpu")
    message = str(refused.value)
    assert message.startswith(f"--trainer.precision is {requested!r}, which cannot train here: ")
    assert ON_A_CPU[requested] in message and "On a CPU use auto" in message and "\n" not in message


@pytest.mark.parametrize("requested", [16, "16", "16-mixed", "16-true"])
def test_float16_is_passed_on_to_a_gpu(requested):
    assert precision.resolve(requested, "cuda") == requested


@pytest.mark.parametrize("requested", ["transformer-engine", "transformer-engine-float16"])
def test_transformer_engine_on_a_gpu_needs_its_package_and_says_how_to_install_it(requested, monkeypatch):
    monkeypatch.setattr(precision.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"NVIDIA's Transformer Engine, which is not installed \(pip install"):
        precision.resolve(requested, "cuda")
    monkeypatch.setattr(precision.importlib.util, "find_spec", lambda name: object())
    assert precision.resolve(requested, "cuda") == requested


def test_float64_is_refused_on_an_apple_gpu():
    for requested in (64, "64", "64-true"):
        with pytest.raises(ConfigError, match="Apple GPUs have no float64"):
            precision.resolve(requested, "mps")


@pytest.mark.parametrize("value", ["fp8", "BF16", "", "16-Mixed", 16.0, 8, True, False, ["32-true"], {"a": 1}])
def test_a_value_that_is_no_precision_of_lightnings_is_refused_naming_every_one(value):
    for check in (lambda: precision.resolve(value, "cpu"), lambda: precision.to_evaluate(value, "cpu")):
        with pytest.raises(ConfigError) as refused:
            check()
        assert refused.value.problem.startswith(f"--trainer.precision is {value!r}, but it must be one of auto, ")
        assert all(str(name) in str(refused.value) for name in precision.NAMES)


@pytest.mark.parametrize("trained_at", list(ON_A_CPU))
def test_a_run_trained_at_a_precision_this_cpu_cannot_run_is_evaluated_in_32_bit_with_a_line_saying_so(
    cpu_bf16, trained_at, caplog
):
    runs_here = trained_at in TRAINED and (cpu_bf16 or trained_at not in BF16_REQUESTS)
    with caplog.at_level(logging.INFO):
        chosen = precision.to_evaluate(trained_at, "cpu")
    assert chosen == (trained_at if runs_here else "32-true")
    assert ("evaluating in 32-true" in caplog.text) is not runs_here
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


@pytest.mark.parametrize("alias", [value for value in precision.ALIASES if value in ON_A_CPU])
def test_an_alias_builds_the_trainer_of_the_precision_it_stands_for(cpu_bf16, alias):
    if alias == "bf16" and not cpu_bf16:
        pytest.skip("refused on this kind of CPU (above)")
    name = precision.ALIASES[alias]
    if name in REFUSED:
        with pytest.raises(ConfigError, match=ON_A_CPU[alias]):
            precision.AutoPrecisionTrainer(precision=alias, accelerator="cpu", logger=False)
        return
    trainer = precision.AutoPrecisionTrainer(precision=alias, accelerator="cpu", logger=False)
    assert trainer.precision == name


RUN = Path("lightning_logs") / "version_0"
WEIGHTS = {"32-true": torch.float32, "64-true": torch.float64, "bf16-mixed": torch.float32, "bf16-true": torch.bfloat16}


@pytest.fixture(scope="module", params=list(WEIGHTS))
def run_at(request, tiny_mnist, tmp_path_factory) -> tuple[str, Path, dict[str, float]]:
    """A tiny run fitted at each precision that trains on a CPU (the aliases build the same Trainer, above): the
    precision, the folder it ran in, its test metrics."""
    if precision.is_bf16(request.param) and not cpu_has_native_bf16():
        pytest.skip("this CPU has no AVX512_BF16 or AMX: no bfloat16 LSTM")
    workdir = tmp_path_factory.mktemp(request.param)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        patch.setattr(sys, "argv", ["lit_rnn.fit"])
        extra = ("--model.network.hidden_size=16", "--trainer.max_epochs=1", f"--trainer.precision={request.param}")
        metrics = fit.main(tiny_fit_args(tiny_mnist, *extra))
    return request.param, workdir, metrics


@pytest.mark.slow  # a fit at each precision
def test_every_precision_that_trains_on_a_cpu_keeps_its_weights_in_its_dtype_and_its_run_says_which(run_at):
    name, workdir, metrics = run_at
    (best,) = (workdir / RUN / "checkpoints").glob("best-*.ckpt")
    weights = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
    assert {weight.dtype for key, weight in weights.items() if key.startswith("network.")} == {WEIGHTS[name]}
    assert yaml.safe_load((workdir / RUN / "config.yaml").read_text())["trainer"]["precision"] == name
    assert 0 < metrics["test/acc"] <= 1


@pytest.mark.slow  # a fit at each precision
def test_a_run_at_every_precision_is_tested_at_it_to_fits_own_numbers_and_predicted(run_at, monkeypatch, capsys):
    name, workdir, metrics = run_at
    monkeypatch.chdir(workdir)
    assert test.main(["--ckpt_path", "best", "--format", "json"]).accuracy == metrics["test/acc"]
    predictions = predict.main(["--ckpt_path", "best", "--indices", "0-9"])
    assert len(predictions) == 10 and all(0 <= result.probability <= 1 for result in predictions)


@pytest.mark.slow  # a fit at each precision, and the ONNX exporter
def test_a_run_at_every_precision_exports_in_32_bit_floats(run_at, monkeypatch):
    name, workdir, metrics = run_at
    monkeypatch.chdir(workdir)
    agreement = export.main(["--ckpt_path", "best"])
    assert agreement.same_digit == agreement.images and (workdir / RUN / "model.onnx").is_file()
