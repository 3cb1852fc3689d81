"""What a command prints: the progress, the model, the results, and the warnings that concern the user, not the noise.

Each silenced line is named by its message and by who emits it, so that every other warning still shows:
a warning about the user's own settings is part of the interface.
"""

import logging
import warnings

from lightning.fabric.utilities.warnings import PossibleUserWarning
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm

# Lightning's info lines (its rank_zero_info) all go to this one logger.
LIGHTNING_INFO_LOGGER = "lightning.pytorch.utilities.rank_zero"
ADVERTISEMENT = "💡 Tip:"  # Lightning's suggestions to install its cloud services (litlogger, litmodels)
# (message, category, module): warnings that say nothing the user can act on.
NOISE = (
    # Lightning's own use of a class that PyTorch deprecated, at every fit and test.
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning, r"lightning\.pytorch\.utilities\._pytree"),
    # Lightning's default interval (50), longer than an epoch of a small data set; a chosen interval still warns.
    (
        r"The number of training batches \(\d+\) is smaller than the logging interval Trainer\(log_every_n_steps=50\)",
        PossibleUserWarning,
        r"lightning\.pytorch\.loops\.fit_loop",
    ),
    # Any fit on a machine where Slurm is installed (a login node, CI): a fit run by hand there is no Slurm job, and the
    # shipped job scripts (examples/slurm/) start fit with srun, as the hint asks.
    (r"The `srun` command is available on your system but is not used", PossibleUserWarning, r"lightning\.fabric"),
    # The CSV writer opening a run folder that holds a checkpoint or a lock; lit_rnn keeps what a resume continues.
    (r"Experiment logs directory .* exists and is not empty", UserWarning, r"lightning\.fabric\.loggers\.csv_logs"),
)


def _not_an_advertisement(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith(ADVERTISEMENT)


def quiet() -> None:
    """Silence the noise, once at the start of a command (calling it again changes nothing)."""
    logging.getLogger(LIGHTNING_INFO_LOGGER).addFilter(_not_an_advertisement)  # a filter is added only once
    for message, category, module in NOISE:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)


class QuietProgressBar(TQDMProgressBar):
    """Lightning's progress bar without the sanity check's own: two validation batches before training are no
    progress the user waits for, and their bar left a line of its own and a blank one."""

    def init_sanity_tqdm(self) -> Tqdm:
        return Tqdm(disable=True)
