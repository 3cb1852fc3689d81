"""A lit_rnn command drops Lightning's NVML-based CUDA check only where NVML cannot be loaded, and only in its own
process: importing lit_rnn leaves Lightning's setting as it is."""

import ctypes
import inspect
import os
import subprocess
import sys

import lightning.fabric
import pytest
from helpers.commands import REPO

from lit_rnn.base.cuda_check import NVML_CHECK, NVML_LIBRARY, skip_nvml_check_without_nvml


@pytest.mark.parametrize("nvml_loads", [True, False])
def test_lightnings_nvml_check_is_dropped_only_where_nvml_cannot_be_loaded(monkeypatch, nvml_loads):
    assert f'os.environ["{NVML_CHECK}"] = "1"' in inspect.getsource(lightning.fabric)  # what Lightning does at import
    monkeypatch.setenv(NVML_CHECK, "1")
    loaded = []

    def load(name):
        loaded.append(name)
        if not nvml_loads:
            raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", load)
    skip_nvml_check_without_nvml()
    assert loaded == [NVML_LIBRARY]
    assert (os.environ.get(NVML_CHECK) == "1") is nvml_loads


def test_a_command_drops_it_in_its_own_process_and_an_import_does_not():
    probe = (
        "import os, lit_rnn.fit; from lit_rnn.base.quick_exit import run_then_exit; "
        f"print(os.environ.get('{NVML_CHECK}')); run_then_exit(lambda: print(os.environ.get('{NVML_CHECK}')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=120)
    on_import, in_the_command = result.stdout.split()
    assert on_import == "1"  # Lightning's, after importing lit_rnn's fit
    try:
        ctypes.CDLL(NVML_LIBRARY)
        assert in_the_command == "1"  # a machine with NVIDIA's driver keeps Lightning's check
    except OSError:
        assert in_the_command == "None"
