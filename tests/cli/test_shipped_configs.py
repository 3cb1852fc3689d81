"""The configs shipped in ``configs/`` build and train."""

import torch
from helpers.cli import cli_in_process
from helpers.commands import tiny_fit_args

from lit_rnn.cli.lightning_cli import CONFIG_DIR


def test_best_config_builds_and_trains_a_step(tiny_mnist, tmp_path, monkeypatch):
    args = ["--config", str(CONFIG_DIR / "best.yaml"), *tiny_fit_args(tiny_mnist), "--trainer.fast_dev_run=1"]
    cli = cli_in_process(tmp_path, monkeypatch, args)
    before = [parameter.detach().clone() for parameter in cli.model.parameters()]
    cli.trainer.fit(cli.model, cli.datamodule)
    assert cli.trainer.global_step == 1
    assert all(not torch.equal(old, new) for old, new in zip(before, cli.model.parameters()))
