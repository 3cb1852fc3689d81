"""The training command line: the LightningCLI that fit and sweep share (``lightning_cli``), the precision it
resolves (``precision``), the checks of its settings (``settings_checks``, ``refused_settings``), the profiler
that costs nothing (``profiling``) and what it prints (``console``). Imports ``runs`` and the rooms below it.

``lit_rnn.cli.LitRNNCLI`` is found here, loaded on first use.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "LitRNNCLI":
        from lit_rnn.cli.lightning_cli import LitRNNCLI

        return LitRNNCLI
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
