"""The run folders: ``lightning_logs/version_N``, one per run, claimed atomically."""

from pathlib import Path

from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from lit_rnn.errors import UserError


class RunLogger(TensorBoardLogger):
    """TensorBoardLogger whose new ``version_N`` folder is created the moment it is chosen.

    Lightning picks the next free number by listing the folder, so two runs started together in the same
    place can pick the same one and write into each other's run. Here the number is taken by ``mkdir``,
    which only one process can win. Only global rank 0 claims: the other processes of a distributed run
    write nothing of their own.
    """

    def _get_next_version(self) -> int:
        version = super()._get_next_version()
        if rank_zero_only.rank != 0:
            return version
        root = Path(self.root_dir)
        try:
            root.mkdir(parents=True, exist_ok=True)
            while True:
                try:
                    (root / f"version_{version}").mkdir()
                    return version
                except FileExistsError:
                    version += 1
        except OSError as error:
            raise UserError(
                f"The run's logs and checkpoints cannot be written under {root} ({error.strerror}). Run from a folder "
                "you can write, or point --trainer.logger.init_args.save_dir at one."
            ) from None
