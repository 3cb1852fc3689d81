"""Checkpoint files written by hand, with the entries Lightning writes, for tests that only read them."""

import torch


def lightning_like_checkpoint(**changes) -> dict:
    """The entries of a checkpoint as Lightning writes one, with ``changes``."""
    return {
        "epoch": 1,
        "global_step": 30,
        "state_dict": {"network.head.bias": torch.zeros(10)},
        "loops": {"fit_loop": {}},
        "optimizer_states": [],
        "lr_schedulers": [],
        "callbacks": {},
        **changes,
    }
