"""The fit command's LightningCLI built in the test's own process, for tests of what it parses, builds and trains."""

import sys
from functools import cache

from jsonargparse import Namespace

from helpers.commands import tiny_fit_args
from lit_rnn.cli.lightning_cli import LitRNNCLI


def cli_in_process(workdir, monkeypatch, args: list[str]) -> LitRNNCLI:
    monkeypatch.chdir(workdir)
    monkeypatch.setattr(sys, "argv", ["lit_rnn.fit"])  # pytest's own arguments are not the CLI's
    return LitRNNCLI(args=args)


def fit_in_process(data_dir, workdir, monkeypatch, *extra: str) -> LitRNNCLI:
    cli = cli_in_process(workdir, monkeypatch, tiny_fit_args(data_dir, *extra))
    cli.trainer.fit(cli.model, cli.datamodule)
    return cli


class _ParseOnly(LitRNNCLI):
    """Fit's command line parsed and checked as fit parses it, with nothing planned, claimed or built."""

    def before_instantiate_classes(self) -> None:
        pass

    def instantiate_classes(self) -> None:
        pass


@cache
def _fit_parser():
    return _ParseOnly(args=[]).parser  # building the parser takes a second; parsing with it, a few milliseconds


def fit_config(args: list[str]) -> Namespace:
    """The config that ``python -m lit_rnn.fit ARGS`` would run with, parsed by fit's own parser (fit's checks of the
    settings left out)."""
    return _fit_parser().parse_args(args)
