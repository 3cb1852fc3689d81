"""A sweep's own settings, the ``sweep:`` section of a sweep file: what it searches, how, and where its study lives.

Checked when they are read, before any trial: a sweep that cannot run says so at once, not after its first trial.
"""

import errno
import math
import os
import re
from pathlib import Path
from typing import Literal

import optuna

from lit_rnn.base.errors import ConfigError
from lit_rnn.logs import metrics, time_to_target
from lit_rnn.study import search_space
from lit_rnn.study.reporting import PrunerName, make_pruner

MAX_HEARTBEAT_SECONDS = 86_400  # a day; Python's timers overflow past about 292 years, in the heartbeat's thread
MAX_STUDY_NAME_BYTES = 200  # a folder's name has at most 255 on common file systems


class SweepSettings:
    """What a sweep searches, how, and where its study lives.

    Args:
        space: Fit's dotted keys, each with a list of choices, a float range ``{low, high, log}`` or an int range
            ``{low, high, step}``.
        objective: The logged metric each trial is judged by (its last value): ``val/acc_best``, ``test/acc``, ...
        direction: Whether the objective is to be maximized or minimized.
        trials: How many trials the study runs in all, over every worker; a grid runs each combination once.
        sampler: ``grid`` (every combination of choices), ``random``, or ``tpe`` (Optuna's TPE).
        seed: The sampler's seed.
        pruner: ``median`` or ``hyperband``: stops trials clearly behind the others at the same step; null: none.
        study_name: The study, and the name of its folder.
        storage: Optuna's storage URL (``postgresql://...``, ``mysql://...``, ``sqlite:///...``); by default a SQLite
            file in the sweep's folder.
        folder: The folder of the sweeps' folders.
        heartbeat_seconds: How often a running trial tells the storage it is alive; a trial silent for four times
            as long is failed and tried again by another worker.
    """

    def __init__(
        self,
        # Not Any, under which jsonargparse fills in a class's arguments; a single value too, which parse_space refuses
        # naming its key (as jsonargparse would not).
        space: dict[str, list | dict | str | int | float | bool | None] | None = None,
        objective: str = "val/acc_best",
        direction: Literal["maximize", "minimize"] = "maximize",
        trials: int | None = None,
        sampler: Literal["grid", "random", "tpe"] = "tpe",
        seed: int = 0,
        pruner: PrunerName = "median",
        study_name: str = "sweep",
        storage: str | None = None,
        folder: str = "sweeps",
        heartbeat_seconds: int = 60,
    ) -> None:
        self.dimensions = search_space.parse_space(space or {})
        self.grid = search_space.grid(self.dimensions) if sampler == "grid" else None
        if self.grid is None and (trials is None or trials < 1):
            raise ConfigError(
                f"--sweep.trials is {trials!r}, but a {sampler} search needs a number of trials, 1 or more."
            )
        if trials is not None and trials < 1:
            raise ConfigError(f"--sweep.trials is {trials!r}, but it must be 1 or more.")
        if not re.fullmatch(r"\w[\w.-]*", study_name) or len(study_name.encode()) > MAX_STUDY_NAME_BYTES:
            raise ConfigError(
                f"--sweep.study_name is {study_name!r}, but it names the study's folder inside {folder}: use "
                "letters, digits, '.', '-' and '_', beginning with a letter, digit or '_' (such as "
                f"search-2), {MAX_STUDY_NAME_BYTES} characters at most."
            )
        if objective not in metrics.METRICS:
            raise ConfigError(
                f"--sweep.objective is {objective!r}, but it must be a metric a run logs: "
                f"{metrics.listed(metrics.METRICS)} (N a class; {time_to_target.METRIC} with a TimeToTarget callback)."
            )
        if not 1 <= heartbeat_seconds <= MAX_HEARTBEAT_SECONDS:
            raise ConfigError(
                f"--sweep.heartbeat_seconds is {heartbeat_seconds!r}, but it must be a whole number of "
                f"seconds from 1 to {MAX_HEARTBEAT_SECONDS:,} (a day)."
            )
        self.space, self.objective, self.direction, self.sampler_name = space, objective, direction, sampler
        self.trials = math.prod(len(choices) for choices in self.grid.values()) if self.grid else trials
        self.seed, self.pruner_name, self.study_name, self.heartbeat_seconds = (
            seed,
            pruner,
            study_name,
            heartbeat_seconds,
        )
        self.folder = Path(folder) / study_name
        if storage is None:  # the default: a SQLite file in the sweep's folder
            self.make_folder()
        self.storage = storage or f"sqlite:///{self.folder / 'study.db'}"

    def make_folder(self) -> None:
        """Create the study's folder, where its trials' runs go.

        Raises:
            ConfigError: a path on the way is a file, or the folder cannot be written.
        """
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if not os.access(self.folder, os.W_OK | os.X_OK):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self.folder))
        except OSError as error:
            in_the_way = next(
                (path for path in (self.folder, *self.folder.parents) if path.exists() and not path.is_dir()), None
            )
            why = f"{in_the_way} is a file, not a folder" if in_the_way else f"{error.strerror or error}: {self.folder}"
            raise ConfigError(
                f"--sweep.folder {self.folder.parent} cannot hold the study's folder, {self.folder}, where its trials' "
                f"runs go ({why}). Give another --sweep.folder, or move what is in the way."
            ) from None

    def sampler(self) -> optuna.samplers.BaseSampler:
        if self.grid is not None:
            return optuna.samplers.GridSampler(self.grid, seed=self.seed)
        if self.sampler_name == "random":
            return optuna.samplers.RandomSampler(seed=self.seed)
        return optuna.samplers.TPESampler(seed=self.seed)

    def pruner(self) -> optuna.pruners.BasePruner:
        return make_pruner(self.pruner_name)
