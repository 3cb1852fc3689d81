"""Which floating-point precision a run computes in: ``auto`` follows the hardware, and bfloat16 only where it is native.

bfloat16 is fast where the processor has instructions for it (a CPU with AVX512_BF16 or AMX, an NVIDIA GPU from
Ampere on). Elsewhere oneDNN has no bfloat16 LSTM at all (an AVX2-only CPU ends the run with "could not create a
primitive descriptor") or emulates it slower than 32-bit floats, so a shipped config must not ask for it blindly.
"""

from typing import Any, Literal

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
HALF_PRECISIONS = ("16", "16-mixed", "16-true")
CPU_BF16_INSTRUCTIONS = "AVX512_BF16 or AMX-BF16"


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


def resolve(precision: Any, accelerator: str | Accelerator | None) -> Any:
    """``auto`` as the precision this hardware runs fastest; any other value as given, once it is known to run here.

    Raises:
        ConfigError: bfloat16 was asked for on a device without bfloat16 instructions, or float16 on a CPU.
    """
    check_config(
        str(precision) not in HALF_PRECISIONS or device_kind(accelerator) != "cpu",
        "trainer.precision",
        precision,
        "32-true on a CPU, which has no float16 kernels for the recurrent layers (Lightning would "
        "train 16-mixed as bf16-mixed instead, and 16-true crashes at the first step); 16-bit precision needs "
        "a GPU",
    )
    if precision != AUTO and not is_bf16(precision):
        return precision
    native, device = native_bf16(accelerator)
    if precision == AUTO:
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


def to_evaluate(trained_at: Any, accelerator: str | Accelerator | None) -> Any:
    """The precision to evaluate a run here that trained at ``trained_at``: the same, unless this hardware cannot run
    its bfloat16 (a run trained on another machine), then 32-bit floats, with a line saying so."""
    if not is_bf16(trained_at):
        return trained_at
    native, device = native_bf16(accelerator)
    if native:
        return trained_at
    rank_zero_info(
        f"The run trained in {trained_at}, which {device} cannot run natively: "
        f"evaluating in {FP32}, so the last digits may differ from the run's own test."
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
