"""Checks of the settings that Lightning itself makes only late: after an epoch of training, or as a crash.

They are checked on the built Trainer: a callback may name its metric under any argument, and a strategy given by
its class starts processes as its arguments say.
"""

from typing import Any

import lightning as L

from lit_rnn.base.errors import ConfigError, check_config
from lit_rnn.base.private_apis import spawns_processes
from lit_rnn.logs import metrics
from lit_rnn.runs.checkpointing import RunCheckpoint


def check_monitor(argument: str, monitor: Any) -> None:
    """Refuse a metric to watch that no run logs at every validation: Lightning finds out at the first validation's
    end."""
    check_config(
        monitor is None or monitor in metrics.MONITORABLE,
        argument,
        monitor,
        f"one of the metrics a run logs at every validation ({metrics.listed(metrics.MONITORABLE)}, N a class), "
        "or null",
    )


def check_trainer(trainer: L.Trainer, strategy: Any) -> None:
    """Every callback's ``monitor`` (EarlyStopping, ModelCheckpoint, any other), and a strategy that runs fit in
    processes of the command's own (``strategy`` as given, to name it)."""
    watched = {callback.monitor: callback for callback in trainer.callbacks if getattr(callback, "monitor", None)}
    for monitor, callback in watched.items():
        check_monitor(f"trainer.callbacks.monitor (of {type(callback).__name__})", monitor)
    for monitor, owner in metrics.missing_loggers(watched, trainer.callbacks).items():
        callback = watched[monitor]
        watcher = "--checkpoint.monitor" if isinstance(callback, RunCheckpoint) else type(callback).__name__
        raise ConfigError(
            f"{watcher} watches {monitor}, which only a {owner.__name__} callback logs, and the run has none. Add one "
            f"under trainer.callbacks (class_path: {owner.__module__}.{owner.__name__}), or watch another metric."
        )
    check_config(
        not spawns_processes(trainer),
        "trainer.strategy",
        strategy,
        "ddp for several processes: this strategy runs fit in processes it starts itself, which the command's "
        "SIGTERM and Ctrl-C never reach, so a stop cannot save the step in progress (the command ends, and its "
        "processes train on, orphaned, in a run folder no longer owned); and it hands the weights back in a file "
        "that is not a checkpoint. Under ddp, Lightning or torchrun or srun starts the processes, and each saves "
        "and stops on a signal (Lightning's docs prefer ddp too)",
    )
