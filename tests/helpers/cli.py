"""The fit command's LightningCLI built in the test's own process, for tests of what it builds and trains."""

import sys

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
