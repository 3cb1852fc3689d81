"""Which floating-point precision a run computes in: ``auto`` follows the hardware, and bfloat16 only where it is native.

bfloat16 is fast where the processor has instructions for it (a CPU with AVX512_BF16 or AMX, an NVIDIA GPU from
Ampere on). Elsewhere oneDNN has no bfloat16 LSTM at all (an AVX2-only CPU ends the run with "could not create a
primitive descriptor") or emulates it slower than 32-bit floats, so a shipped config must not ask for it blindly.
"""

import importlib.util
from typing import Any, Literal, get_args

import torch
from lightning.fabric.plugins.precision.precision import _PRECISION_INPUT
from lightning.pytorch import Trainer
from lightning.pytorch.accelerators import Accelerator
from lightning.pytorch.utilities import rank_zero_info

from lit_rnn.base.errors import ConfigError, check_config
from lit_rnn.base.private_apis import cpu_has_native_bf16

AUTO = "auto"
BF16 = "bf16-mixed"  # what auto picks where bfloat16 is native: the weights and the optimizer stay 32-bit
FP32 = "32-true"
CPU_BF16_INSTRUCTIONS = "AVX512_BF16 or AMX-BF16"
# Every value Lightning's Trainer takes (the literals of its ``_PRECISION_INPUT``), and the aliases among them as the
# names Lightning reads them as.
ACCEPTED: tuple[Any, ...] = tuple(value for literal in get_args(_PRECISION_INPUT) for value in get_args(literal))
ALIASES: dict[Any, str] = {64: "64-true", "64": "64-true", 32: FP32, "32": FP32, 16: "16-mixed", "16": "16-mixed"}
ALIASES["bf16"] = BF16
NAMES = tuple(value for value in ACCEPTED if value not in ALIASES)
TRANSFORMER_ENGINE = "transformer_engine"  # the package of the transformer-engine precisions (NVIDIA's, GPUs only)
_NVIDIA_ONLY = "the transformer-engine precisions run NVIDIA's Transformer Engine, on NVIDIA GPUs only"
# Why a precision does not train on a CPU, by its name in Lightning.
_REFUSED_ON_CPU = {
    "16-mixed": "Lightning trains 16-mixed as bf16-mixed on a CPU, which has no float16 autocast, so the run would not "
    "be in the precision asked for",
    "16-true": "16-true keeps the weights and the optimizer's state in float16, which a CPU computes in software and "
    "whose range loses the optimizer's small numbers (Adam's eps of 1e-8 is 0 in float16): the tutorial's run "
    "diverges within ten steps",
    "transformer-engine": _NVIDIA_ONLY,
    "transformer-engine-float16": _NVIDIA_ONLY,
}
_ON_A_CPU = f"auto (bf16-mixed where the CPU has {CPU_BF16_INSTRUCTIONS}, {FP32} elsewhere), {FP32} or 64-true"


def device_kind(accelerator: str | Accelerator | None) -> str:
    """``cuda``, ``mps`` or ``cpu``: what the Trainer will run on, asked for or chosen as Lightning's ``auto`` does."""
    if isinstance(accelerator, Accelerator):
        return {"CUDAAccelerator": "cuda", "MPSAccelerator": "mps"}.get(type(accelerator).__name__, "cpu")
    if accelerator in ("gpu", "cuda") or (accelerator in (None, AUTO) and torch.cuda.is_available()):
        return "cuda"
    if accelerator == "mps" or (accelerator in (None, AUTO) and torch.backends.mps.is_available()):
        return "mps"
    return "cpu"


def native_bf16(accelerator: str | Accelerator | None) -> tuple[bool, str]:
    """Whether the device the run will use computes bfloat16 natively, and the device's name for the messages."""
    kind = device_kind(accelerator)
    if kind == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False), torch.cuda.get_device_name()
    if kind == "mps":
        return False, "this Apple GPU"  # its bfloat16 LSTM is not faster than float32
    return cpu_has_native_bf16(), "this CPU"


def is_bf16(precision: Any) -> bool:
    return isinstance(precision, str) and precision.startswith("bf16")


def name_of(precision: Any) -> str:
    """Lightning's name of one of its precisions (``64`` and ``"64"`` are ``64-true``, ``bf16`` is ``bf16-mixed``).

    Raises:
        ConfigError: a value that Lightning's Trainer does not take (a run's config.yaml can hold anything).
    """
    # A float or a bool equals an int (16.0 == 16, True == 1), but Lightning's Trainer refuses both.
    if type(precision) not in (str, int) or precision not in ACCEPTED:
        names, aliases = ", ".join((AUTO, *NAMES)), ", ".join(str(alias) for alias in ALIASES if isinstance(alias, str))
        check_config(False, "trainer.precision", precision, f"one of {names} (or an alias: {aliases})")
    return ALIASES.get(precision, precision)


def resolve(precision: Any, accelerator: str | Accelerator | None) -> Any:
    """``auto`` as the precision this hardware runs fastest; any other value as given, once it is known to run here.

    Raises:
        ConfigError: a precision that cannot train on this device: bfloat16 without its instructions, float16 or
            Transformer Engine on a CPU, float64 on an Apple GPU, Transformer Engine without its package.
    """
    if precision is None:
        return None  # Lightning's default, 32-true
    name = AUTO if precision == AUTO else name_of(precision)
    kind = device_kind(accelerator)
    if kind == "cpu" and name in _REFUSED_ON_CPU:
        raise _refused(precision, f"{_REFUSED_ON_CPU[name]}. On a CPU use {_ON_A_CPU}")
    if kind == "mps" and name == "64-true":
        raise _refused(precision, f"Apple GPUs have no float64. Use {FP32} or --trainer.accelerator cpu")
    if name.startswith("transformer-engine") and importlib.util.find_spec(TRANSFORMER_ENGINE) is None:
        raise _refused(
            precision,
            f"it needs NVIDIA's Transformer Engine, which is not installed (pip install {TRANSFORMER_ENGINE}[pytorch])",
        )
    if name != AUTO and not is_bf16(name):
        return precision
    native, device = native_bf16(accelerator)
    if name == AUTO:
        return BF16 if native else FP32
    if not native:
        needs = CPU_BF16_INSTRUCTIONS if device == "this CPU" else "bfloat16 support"
        raise ConfigError(
            f"--trainer.precision is {precision!r}, but {device} has no {needs} instructions, so its bfloat16 LSTM "
            f"fails or runs slower than 32-bit. Use --trainer.precision auto (bfloat16 where the hardware has it, "
            f"32-bit elsewhere) or {FP32}.",
            f"--trainer.precision is {precision!r}, which {device} cannot run",
        )
    return precision


def _refused(precision: Any, why: str) -> ConfigError:
    problem = f"--trainer.precision is {precision!r}, which cannot train here: {why}."
    return ConfigError(f"{problem} Change it on the command line or in the YAML config.", problem)


def to_evaluate(trained_at: Any, accelerator: str | Accelerator | None) -> Any:
    """The precision to evaluate a run here that trained at ``trained_at``: the same, unless this hardware cannot run
    it (a run trained on another machine: bfloat16 without its instructions, float16 on a CPU), then 32-bit floats,
    with a line saying so.

    Raises:
        ConfigError: ``trained_at`` is no precision of Lightning's.
    """
    if trained_at in (None, AUTO):
        return trained_at
    name_of(trained_at)
    try:
        return resolve(trained_at, accelerator)
    except ConfigError as refused:
        rank_zero_info(
            f"The run trained in {trained_at}, which cannot run here ({refused.problem.rstrip('.')}): evaluating in "
            f"{FP32}, so the last digits may differ from the run's own test."
        )
        return FP32


def why(accelerator: str | Accelerator | None) -> str:
    """One sentence saying what ``auto`` chose and why, for the run's output."""
    native, device = native_bf16(accelerator)
    if native:
        return f"Precision auto: {BF16}, since {device} computes bfloat16 natively."
    needs = f" ({CPU_BF16_INSTRUCTIONS})" if device == "this CPU" else ""
    return f"Precision auto: {FP32}, since {device} has no native bfloat16{needs}."


class AutoPrecisionTrainer(Trainer):
    """Lightning's Trainer, with ``precision: auto`` chosen from the hardware before it is built."""

    def __init__(self, *, precision: Literal["auto"] | _PRECISION_INPUT | None = None, **kwargs: Any) -> None:
        """
        Args:
            precision: ``auto`` (bfloat16 mixed precision where the CPU or GPU computes bfloat16 natively, 32-bit
                floats elsewhere), or any of Lightning's precisions: ``32-true``, ``bf16-mixed``, ``16-mixed``, ...
            **kwargs: Lightning's other Trainer arguments.
        """
        accelerator = kwargs.get("accelerator", AUTO)
        if precision == AUTO:
            rank_zero_info(why(accelerator))
        super().__init__(precision=resolve(precision, accelerator), **kwargs)
