"""The link from a sweep's trial, an ordinary ``fit`` run, back to its Optuna study: a callback that the sweep adds."""

import math
from typing import Literal

import lightning as L
import optuna

from lit_rnn.base.errors import UserError

PRUNED_EXIT_CODE = 3
PrunerName = Literal["median", "hyperband"] | None


def make_pruner(name: PrunerName) -> optuna.pruners.BasePruner:
    """Optuna's pruner of that name; None prunes nothing. A study keeps no pruner: each process that asks makes it."""
    return {
        None: optuna.pruners.NopPruner,
        "median": optuna.pruners.MedianPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
    }[name]()


class TrialPruned(UserError):
    """The study's pruner gave up on the trial: it is clearly behind the others at the same step."""

    exit_code = PRUNED_EXIT_CODE


class ReportToStudy(L.Callback):
    """Reports the objective to the trial after each validation, and stops a trial that the study's pruner gives up on.

    Args:
        storage: The study's storage URL.
        study_name: The study's name.
        trial_number: The trial's number in the study.
        objective: The logged metric the study optimizes.
        pruner: The study's pruner.
    """

    def __init__(
        self,
        storage: str,
        study_name: str,
        trial_number: int,
        objective: str = "val/acc_best",
        pruner: PrunerName = "median",
    ) -> None:
        self.storage, self.study_name, self.trial_number, self.objective = storage, study_name, trial_number, objective
        self.pruner = pruner
        self._trial: optuna.trial.Trial | None = None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.objective)
        # Infinity is a time to target not reached yet: no result to compare at this step.
        if trainer.sanity_checking or value is None or not math.isfinite(value) or not trainer.is_global_zero:
            return
        if self._trial is None:
            self._trial = self._running_trial()
        self._trial.report(float(value), step=trainer.global_step)
        if self._trial.should_prune():
            raise TrialPruned(
                f"The study's pruner stopped this trial after step {trainer.global_step}: its "
                f"{self.objective}, {float(value):.4f}, is behind the other trials' at that step."
            )

    def _running_trial(self) -> optuna.trial.Trial:
        """The trial, to report to: the worker that runs it holds its ``Trial``, which no other process can be given,
        so it is found again by its number through the storage's public interface."""
        storage = optuna.storages.RDBStorage(self.storage)
        study = optuna.load_study(study_name=self.study_name, storage=storage, pruner=make_pruner(self.pruner))
        study_id = storage.get_study_id_from_name(self.study_name)
        return optuna.trial.Trial(study, storage.get_trial_id_from_study_id_trial_number(study_id, self.trial_number))
