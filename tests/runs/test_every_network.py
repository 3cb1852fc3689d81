"""Every shipped network (``configs/networks/*.yaml``) keeps every guarantee: killed with SIGKILL mid-epoch and
resumed, it ends bit-identical to a run never killed; its checkpoint tests, predicts, exports (ONNX Runtime agrees) and
serves, with an opinion by row exactly where the network reads the rows in order. On the tiny data, each network's
config as shipped, but for the run's length and batches."""

import os
import signal

import httpx
import pytest
import torch
from helpers.commands import REPO, run_module, tiny_fit_args
from helpers.resume import assert_identical, final_state, interrupt
from helpers.serving import serving

from lit_rnn import export, predict, test
from lit_rnn.trained.loading import find_checkpoint, load_network

NETWORKS = sorted((REPO / "configs" / "networks").glob("*.yaml"))


def network_args(data_dir, config, *extra: str) -> list[str]:
    """The network's config, on the tiny data: two epochs of 10 steps, each validated (the shipped configs validate
    once, after their own last epoch), a recovery checkpoint every 4 steps."""
    run = ("--trainer.max_epochs=2", "--trainer.check_val_every_n_epoch=1", "--recovery.every_n_steps=4")
    return [f"--config={config}", *tiny_fit_args(data_dir, *run, *extra)]  # the config first: the tiny run overrides it


@pytest.fixture(scope="module", params=NETWORKS, ids=[path.stem for path in NETWORKS])
def network_runs(request, tiny_mnist, tmp_path_factory):
    """A network's run never killed, and the same run killed by SIGKILL in the middle of step 7 and resumed."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OMP_NUM_THREADS", "1")  # the same thread count in every process
        straight, killed = tmp_path_factory.mktemp("straight"), tmp_path_factory.mktemp("killed")
        args = network_args(tiny_mnist, request.param)
        result = run_module("lit_rnn.fit", args, cwd=straight)
        assert result.returncode == 0, result.stderr[-3000:]
        stopped = run_module("lit_rnn.fit", [*args, *interrupt(7)], cwd=killed)
        assert stopped.returncode == -signal.SIGKILL, stopped.stderr[-3000:]
        resumed = run_module("lit_rnn.fit", [*args, "--ckpt_path=last"], cwd=killed)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
    return request.param, straight, killed


@pytest.mark.slow  # three fits of each network
def test_a_network_killed_mid_epoch_resumes_bit_identical(network_runs):
    _, straight, killed = network_runs
    run = "lightning_logs/version_0"
    expected, found = final_state(straight / run), final_state(killed / run)
    assert found["global_step"] == expected["global_step"] == 20
    for key in ("state_dict", "optimizer_states", "lr_schedulers"):
        assert_identical(found[key], expected[key], key)


@pytest.mark.slow  # three fits of each network
def test_a_network_tests_predicts_exports_and_serves(network_runs, tiny_mnist, monkeypatch, capsys):
    _, straight, _ = network_runs
    monkeypatch.chdir(straight)
    evaluation = test.main(["--data.data_dir", str(tiny_mnist)])
    assert evaluation.images == 200
    predictions = predict.main(["--indices", "0-9"])
    assert len(predictions) == 10 and all(0 <= prediction.digit <= 9 for prediction in predictions)
    agreement = export.main(["--output", "network.onnx"])
    assert agreement.same_digit == agreement.images == 200
    trained = load_network(find_checkpoint("best"))
    by_row = trained.network.no_opinion_by_row is None
    capsys.readouterr()
    with serving(straight, env={"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}) as server:
        info = httpx.get(f"{server.url}/info").json()["model"]
        assert info["probabilities_by_row"] is by_row and (info["no_probabilities_by_row"] is None) is by_row
        page = httpx.get(f"{server.url}/")
        assert page.status_code == 200 and "headline" in page.text
        pixels = (torch.rand(28, 28) > 0.8).float().tolist()
        answer = httpx.post(f"{server.url}/predict", json={"pixels": pixels}).json()
        assert 0 <= answer["digit"] <= 9 and answer["class_name"] == str(answer["digit"])
        assert (answer["probabilities_by_row"] is not None) is by_row
        if by_row:
            assert len(answer["probabilities_by_row"]) == 28
            assert answer["probabilities_by_row"][-1] == answer["probabilities"]
