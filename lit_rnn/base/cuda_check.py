"""PyTorch's question "is CUDA available?", asked as cheaply as its answer allows in a lit_rnn command's process."""

import ctypes
import os

NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"
NVML_LIBRARY = "libnvidia-ml.so.1"  # the library PyTorch's NVML-based check loads


def skip_nvml_check_without_nvml() -> None:
    """Undo Lightning's ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` on a machine without NVML, where it only costs time.

    Lightning sets the variable as it is imported, so that asking whether CUDA is available asks NVML instead of
    starting CUDA (which would spoil forked processes). PyTorch's optimizers ask at every step. Without NVML (no
    NVIDIA driver), each answer first fails to load ``libnvidia-ml.so.1``, then asks CUDA as it would without the
    variable: the same answer, 0.20 ms of CPU later each training step (``benchmarks/step_overhead.py``), 5% of the
    default command's step on two CPU cores. Called in lit_rnn's own command processes only (``run_then_exit``),
    never on import: a script or notebook that imports lit_rnn keeps Lightning's setting.
    """
    if os.environ.get(NVML_CHECK) != "1":
        return
    try:
        ctypes.CDLL(NVML_LIBRARY)
    except OSError:
        del os.environ[NVML_CHECK]
