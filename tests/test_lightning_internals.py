"""Each private Lightning API that lit_rnn relies on, checked against the installed Lightning: if one of these fails,
Lightning changed under the project, and ``lit_rnn/lightning_internals.py`` says what relied on it."""

import inspect

import lightning as L
from lightning.pytorch.loops.fit_loop import _FitLoop

from lit_rnn.lightning_internals import _EpochExactFitLoop, use_epoch_exact_fit_loop


def test_the_fit_loop_still_forces_restarting_for_max_steps_and_takes_the_epoch_exact_one():
    # What the override corrects: Lightning's setter marks every restored run bounded by max_steps as restarting.
    assert "_iteration_based_training()" in inspect.getsource(_FitLoop.restarting.fset)
    trainer = L.Trainer(max_steps=7, max_epochs=3, min_epochs=1, logger=False, enable_checkpointing=False)
    epoch_loop = trainer.fit_loop.epoch_loop
    use_epoch_exact_fit_loop(trainer)
    loop = trainer.fit_loop
    assert isinstance(loop, _EpochExactFitLoop) and loop.epoch_loop is epoch_loop
    assert (loop.max_epochs, loop.min_epochs, loop.max_steps) == (3, 1, 7)
    for counter in ("ready", "started", "processed", "completed"):
        setattr(loop.epoch_progress.current, counter, 2)
    loop.restarting = True  # restored at the end of an epoch
    assert not loop.restarting and not loop.epoch_loop.restarting
    loop.epoch_progress.current.ready = loop.epoch_progress.current.started = 3
    loop.restarting = True  # restored in the middle of an epoch
    assert loop.restarting and loop.epoch_loop.restarting
