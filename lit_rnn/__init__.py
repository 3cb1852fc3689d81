"""lit_rnn: an LSTM that reads MNIST digits row by row, trained with PyTorch Lightning.

The package is laid out in rooms, each importing only from the rooms below it (``make lint`` checks it with
import-linter; the contracts are in ``pyproject.toml``):

- the commands, ``fit``, ``test``, ``predict``, ``export``, ``sweep``, ``serve``: one module each,
  ``python -m lit_rnn.NAME``;
- ``study``: a sweep's settings, search space, Optuna study and the fit process of each of its trials;
  ``serving``: a trained model over HTTP, on LitServe, and its page;
- ``cli``: the LightningCLI the training commands share, and the checks of its settings;
  ``trained``: a trained model found and rebuilt from its checkpoint, and what its evaluation tells;
- ``runs``: run folders, checkpoint files, recovery, the resume plan, each logger's run continued;
- ``logs``: what every logger gets: pictures and the settings beside the metrics;
- ``model``: the network and its LightningModule; ``data``: MNIST, its batches and a user's pictures;
- ``base``: what every room may use: errors, signals, the YAML reader, class paths, private APIs.

Runs made before this layout name classes by their old module paths in their ``config.yaml`` (such as
``lit_rnn.profiling.NoProfiler``); ``OLD_PATHS`` keeps those paths importable, so that such runs still resume.
"""

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType

OLD_PATHS = {  # module before the rooms -> its module now
    "lit_rnn.batches": "lit_rnn.data.batches",
    "lit_rnn.callbacks": "lit_rnn.logs.hparams",
    "lit_rnn.checkpointing": "lit_rnn.runs.checkpointing",
    "lit_rnn.child_errors": "lit_rnn.base.child_errors",
    "lit_rnn.class_paths": "lit_rnn.base.class_paths",
    "lit_rnn.command_line": "lit_rnn.trained.command_line",
    "lit_rnn.console": "lit_rnn.cli.console",
    "lit_rnn.digits": "lit_rnn.data.digits",
    "lit_rnn.errors": "lit_rnn.base.errors",
    "lit_rnn.evaluation": "lit_rnn.trained.evaluation",
    "lit_rnn.figures": "lit_rnn.logs.figures",
    "lit_rnn.interrupts": "lit_rnn.base.interrupts",
    "lit_rnn.lightning_internals": "lit_rnn.base.private_apis",
    "lit_rnn.log_figures": "lit_rnn.logs.log_figures",
    "lit_rnn.logger_outputs": "lit_rnn.logs.outputs",
    "lit_rnn.logger_runs": "lit_rnn.runs.logger_runs",
    "lit_rnn.network": "lit_rnn.model.network",
    "lit_rnn.precision": "lit_rnn.cli.precision",
    "lit_rnn.profiling": "lit_rnn.cli.profiling",
    "lit_rnn.quick_exit": "lit_rnn.base.quick_exit",
    "lit_rnn.recovery": "lit_rnn.runs.recovery",
    "lit_rnn.refused_settings": "lit_rnn.cli.refused_settings",
    "lit_rnn.resume": "lit_rnn.runs.resume",
    "lit_rnn.run_results": "lit_rnn.runs.results",
    "lit_rnn.search_space": "lit_rnn.study.search_space",
    "lit_rnn.settings_checks": "lit_rnn.cli.settings_checks",
    "lit_rnn.study_storage": "lit_rnn.study.storage",
    "lit_rnn.sweep_report": "lit_rnn.study.report",
    "lit_rnn.trial_fit": "lit_rnn.study.trial_fit",
    "lit_rnn.trial_reporting": "lit_rnn.study.reporting",
    "lit_rnn.yaml_files": "lit_rnn.base.yaml_files",
}
# lit_rnn.model, lit_rnn.data, lit_rnn.cli, lit_rnn.runs and lit_rnn.trained are rooms now: they give the classes
# an old config may name (lit_rnn.model.MNISTClassifier, lit_rnn.data.MNISTDataModule) from their __init__.


class _OldPathFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module path as the very module it moved to (one module object, under both names)."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        return importlib.util.spec_from_loader(name, self) if name in OLD_PATHS else None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(OLD_PATHS[spec.name])

    def exec_module(self, module: ModuleType) -> None:
        """The module ran when it was imported under its own name."""


sys.meta_path.append(_OldPathFinder())
