"""The private parts of Lightning that lit_rnn relies on, each in one place, because no public route reaches them.

Each has a test in ``tests/test_lightning_internals.py`` that fails loudly when Lightning changes it.
"""

import lightning as L
from lightning.pytorch.loops.fit_loop import _FitLoop
from lightning.pytorch.loops.loop import _Loop


class _EpochExactFitLoop(_FitLoop):
    """Lightning's fit loop, resuming a run bounded by ``max_steps`` as exactly as one bounded by ``max_epochs``.

    Lightning marks a loop restored from a checkpoint as "restarting" when the checkpoint's epoch was unfinished,
    and always when ``max_steps`` is set. A checkpoint written at the end of an epoch (by ``on_train_epoch_end``)
    then counts that epoch twice: the resumed run runs its end again, and stops an epoch early.
    Here an epoch that had ended is an ended epoch, whatever bounds the run.
    """

    @_Loop.restarting.setter
    def restarting(self, restarting: bool) -> None:
        current = self.epoch_progress.current
        epoch_unfinished = any(value != current.processed for value in (current.ready, current.started))
        _Loop.restarting.fset(self, restarting and epoch_unfinished)


def use_epoch_exact_fit_loop(trainer: L.Trainer) -> None:
    """Give ``trainer`` the fit loop above, with the limits and the epoch loop that it was built with."""
    loop = _EpochExactFitLoop(trainer, min_epochs=trainer.fit_loop.min_epochs, max_epochs=trainer.fit_loop.max_epochs)
    loop.epoch_loop = trainer.fit_loop.epoch_loop
    trainer.fit_loop = loop
