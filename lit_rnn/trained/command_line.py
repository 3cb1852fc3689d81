"""The command line of the commands that use a trained model (predict, test, export): argparse, with every usage
error one ``error:`` line, and the options they share."""

import argparse
from typing import NoReturn

from lit_rnn.base.errors import UserError
from lit_rnn.runs import folders as runs


class UsageError(UserError):
    """The command line does not parse."""


class CommandLine(argparse.ArgumentParser):
    """argparse, except that a usage error is one ``error:`` line like every other error, not the usage and a second line."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}. Run {self.prog} --help to see the options.")


def trained_model_command(command: str, description: str, data_use: str | None) -> CommandLine:
    """The command line of ``python -m lit_rnn.COMMAND``, with the options every command on a trained model has:
    ``--ckpt_path`` (which model), ``--allow_module`` (whose networks it may rebuild) and ``--data.data_dir`` (where
    its dataset's files are, for ``data_use``; None for a command that reads none)."""
    # Each option by its whole name: an abbreviation (--indic for --indices) could come to mean another option.
    parser = CommandLine(prog=f"python -m lit_rnn.{command}", description=description, allow_abbrev=False)
    parser.add_argument(
        "--ckpt_path",
        default="best",
        help=f"A .ckpt file, or best / last: the newest run's in ./{runs.LOG_ROOT} (default: best).",
    )
    parser.add_argument(
        "--allow_module",
        action="append",
        default=[],
        metavar="MODULE",
        help="A module of your own (such as mypkg.networks) whose network classes a checkpoint may name, besides "
        "lit_rnn's; repeat it for several. A checkpoint never makes lit_rnn import any other module.",
    )
    if data_use is None:
        return parser
    parser.add_argument(
        "--data.data_dir",
        dest="data_dir",
        default=None,
        help=f"Folder holding the dataset's files (such as MNIST/raw), {data_use} (default: the folder the checkpoint "
        "trained on).",
    )
    return parser
