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
        self._study: tuple[optuna.Study, optuna.storages.BaseStorage, int] | None = None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.objective)
        # Infinity is a time to target not reached yet: no result to compare at this step.
        if trainer.sanity_checking or value is None or not math.isfinite(value) or not trainer.is_global_zero:
            return
        if self._study is None:
            self._study = self._open_study()
        study, storage, trial_id = self._study
        trial = storage.get_trial(trial_id)
        if trainer.global_step not in trial.intermediate_values:  # a resumed run validates its last step again
            storage.set_trial_intermediate_value(trial_id, trainer.global_step, float(value))
            trial = storage.get_trial(trial_id)
        if study.pruner.prune(study, trial):
            raise TrialPruned(
                f"The study's pruner stopped this trial after step {trainer.global_step}: its "
                f"{self.objective}, {float(value):.4f}, is behind the other trials' at that step."
            )

    def _open_study(self) -> tuple[optuna.Study, optuna.storages.BaseStorage, int]:
        """The study, its storage and the trial's id there. The worker that runs the trial holds its ``Trial``, which
        no other process can be given: this one reports through the storage's public methods and asks the study's
        pruner itself, as ``Trial.report`` and ``should_prune`` do (Optuna advises against building a ``Trial``)."""
        storage = optuna.storages.RDBStorage(self.storage)
        study = optuna.load_study(study_name=self.study_name, storage=storage, pruner=make_pruner(self.pruner))
        study_id = storage.get_study_id_from_name(self.study_name)
        return study, storage, storage.get_trial_id_from_study_id_trial_number(study_id, self.trial_number)
