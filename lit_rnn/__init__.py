"""lit_rnn: an experiment project on Lightning for images of MNIST's format, its networks and datasets chosen by
config; by default the tutorial's LSTM reading MNIST digits row by row.

The package is laid out in rooms, each importing only from the rooms below it (``make lint`` checks it with
import-linter; the contracts are in ``pyproject.toml``):

- the commands, ``fit``, ``test``, ``predict``, ``export``, ``sweep``, ``serve``: one module each,
  ``python -m lit_rnn.NAME``;
- ``study``: a sweep's settings, search space, Optuna study and the fit process of each of its trials;
  ``serving``: a trained model over HTTP, on LitServe, and its page;
- ``cli``: the LightningCLI the training commands share, and the checks of its settings;
  ``trained``: a trained model found and rebuilt from its checkpoint, and what its evaluation tells;
- ``runs``: run folders, checkpoint files, recovery, the resume plan, each logger's run continued, old runs read;
- ``logs``: what every logger gets: pictures, the settings beside the metrics, the one list of metrics;
- ``model``: the networks (``model.networks``, one module each) and the LightningModule; ``data``: the datasets of
  MNIST's format, their batches and a user's pictures;
- ``base``: what every room may use: errors, signals, the YAML reader, class paths, private APIs.
"""
