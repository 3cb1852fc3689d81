"""A run's results, ``RUN/results.json``: the last value of each metric it logged, and how long its training took.

Fit writes it, whatever loggers the run has (TensorBoard, CSV, MLflow or none), so that a command comparing runs
(the sweep) reads a file of known shape instead of a logger's files or fit's printed text. A resumed run merges
into the file: a metric it does not log again (a run resumed after its training ended validates no more) keeps the
value its earlier process wrote.
"""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lit_rnn.base.errors import ConfigError, summarize
from lit_rnn.runs.checkpointing import write_atomically

RESULTS_NAME = "results.json"


def record(run: Path, metrics: Mapping[str, Any], **facts: float) -> None:
    """Merge ``metrics`` (scalar tensors or numbers, as Lightning holds them) and ``facts`` into the run's file."""
    results = read(run) or {"metrics": {}}
    results["metrics"].update({name: float(value) for name, value in metrics.items()})
    results.update(facts)
    text = json.dumps(results, indent=2, sort_keys=True)
    write_atomically(run / RESULTS_NAME, lambda handle: handle.write(text.encode()))


def read(run: Path) -> dict[str, Any] | None:
    """The run's results, ``{"metrics": {name: value}, "train_seconds": ...}``; None if the run wrote none yet.

    Raises:
        ConfigError: the file is not one fit wrote (edited, cut off), naming it; it is left as it is.
    """
    path = run / RESULTS_NAME
    try:
        results = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        results = summarize(error)
    if not isinstance(results, dict) or not isinstance(results.get("metrics"), dict):
        why = results if isinstance(results, str) else "no metrics in it"
        raise ConfigError(
            f"{path} is not the results file fit writes ({why}). Move it out of the run folder: the "
            "run's checkpoints are kept, and --ckpt_path last writes it anew."
        )
    return results
