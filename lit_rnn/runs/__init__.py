"""Runs: the run folders and their lock (``folders``), checkpoint files written atomically and read safely
(``checkpointing``), recovery checkpoints (``recovery``), the plan of which run a fit is (``resume``), each
logger's run continued on resume (``logger_runs``) and the results a run writes for other commands (``results``).
Imports ``logs``, ``model``, ``data`` and ``base``."""
