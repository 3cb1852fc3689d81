"""The networks chosen by config, against the contract of ``lit_rnn.model.networks``: shapes with a free batch axis,
arguments refused before allocating, opinions by row that read no later row, gradients everywhere, ONNX export."""

import subprocess
import sys
import time

import pytest
import torch

from lit_rnn.base.errors import ConfigError
from lit_rnn.model.networks import cnn, mingru, no_opinion_by_row, transformer
from lit_rnn.model.networks.cnn import ConvNet
from lit_rnn.model.networks.mingru import MinGRULayer, MinGRUNetwork
from lit_rnn.model.networks.transformer import RowTransformer

SMALL = [
    (ConvNet, {}),
    (ConvNet, {"channels": 4, "blocks": 3, "kernel_size": 5, "downsample": "stride", "hidden": 8, "dropout": 0.2}),
    (ConvNet, {"channels": 2, "blocks": 5, "kernel_size": 1, "downsample": "pool", "hidden": 0, "num_classes": 3}),
    (ConvNet, {"channels": 3, "blocks": 3, "kernel_size": 3, "downsample": "pool", "dropout": 0.1}),
    (RowTransformer, {}),
    (RowTransformer, {"d_model": 12, "num_heads": 3, "num_layers": 1, "dim_feedforward": 8, "dropout": 0.1}),
    (RowTransformer, {"d_model": 8, "num_heads": 2, "causal": False, "num_classes": 3}),
    (MinGRUNetwork, {}),
    (MinGRUNetwork, {"hidden_size": 8, "num_layers": 3, "dropout": 0.1, "num_classes": 3}),
]


def build(network_class, settings, seed=0):
    torch.manual_seed(seed)
    return network_class(**settings)


@pytest.mark.parametrize("network_class, settings", SMALL)
@pytest.mark.parametrize("batch", [1, 7])
def test_logits_have_a_row_per_image_and_a_column_per_class(network_class, settings, batch):
    network = build(network_class, settings)
    for mode in (network.train, network.eval):
        mode()
        logits = network(torch.rand(batch, 28, 28))
        assert logits.shape == (batch, settings.get("num_classes", 10)) and logits.isfinite().all()


@pytest.mark.parametrize(
    "count, settings",
    [
        (cnn.weight_count, {"channels": 16, "blocks": 2, "kernel_size": 5, "hidden": 64}),
        (cnn.weight_count, {"channels": 5, "blocks": 4, "kernel_size": 7, "hidden": 9, "num_classes": 4}),
        (cnn.weight_count, {"channels": 3, "blocks": 5, "kernel_size": 3, "hidden": 0}),
        (transformer.weight_count, {"d_model": 64, "num_heads": 4, "num_layers": 2, "dim_feedforward": 128}),
        (transformer.weight_count, {"d_model": 6, "num_heads": 3, "num_layers": 3, "dim_feedforward": 5}),
        (mingru.weight_count, {"hidden_size": 96, "num_layers": 4}),
        (mingru.weight_count, {"hidden_size": 7, "num_layers": 1, "num_classes": 3}),
    ],
)
def test_the_weight_count_is_the_networks_without_building_it(count, settings):
    network_class = {cnn.weight_count: ConvNet, transformer.weight_count: RowTransformer}.get(count, MinGRUNetwork)
    assert count(**settings) == sum(weight.numel() for weight in network_class(**settings).parameters())


@pytest.mark.parametrize(
    "network_class, settings, problem",
    [
        (ConvNet, {"channels": 10**12}, "channels is 1000000000000, but it must be smaller: with channels"),
        (ConvNet, {"channels": 20_000}, "channels is 20000, but it must be smaller"),
        (ConvNet, {"hidden": 10**9}, "hidden is 1000000000, but it must be smaller"),
        (ConvNet, {"channels": True}, "channels is True, but it must be a positive whole number"),
        (ConvNet, {"blocks": "2"}, "blocks is '2', but it must be a whole number from 1 to 5"),
        (ConvNet, {"blocks": 6}, "blocks is 6, but it must be a whole number from 1 to 5"),
        (ConvNet, {"kernel_size": 4}, "kernel_size is 4, but it must be 1, 3, 5 or 7"),
        (ConvNet, {"downsample": "avg"}, "downsample is 'avg', but it must be 'pool' or 'stride'"),
        (ConvNet, {"hidden": -1}, "hidden is -1, but it must be a whole number, 0"),
        (ConvNet, {"dropout": 1.0}, "dropout is 1.0, but it must be in [0, 1)"),
        (ConvNet, {"num_classes": 0}, "num_classes is 0, but it must be a whole number from 1"),
        (RowTransformer, {"d_model": 10**12}, "d_model is 1000000000000, but it must be smaller: with d_model"),
        (RowTransformer, {"num_layers": 10**6}, "num_layers is 1000000, but it must be smaller"),
        (RowTransformer, {"dim_feedforward": 10**7}, "dim_feedforward is 10000000, but it must be smaller"),
        (
            RowTransformer,
            {"d_model": 64, "num_heads": 5},
            "num_heads is 5, but it must be a divisor of --model.network",
        ),
        (RowTransformer, {"d_model": 4, "num_heads": 8}, "num_heads is 8, but it must be a divisor"),
        (RowTransformer, {"d_model": 64.0}, "d_model is 64.0, but it must be a positive whole number"),
        (RowTransformer, {"num_heads": False}, "num_heads is False, but it must be a positive whole number"),
        (RowTransformer, {"causal": "yes"}, "causal is 'yes', but it must be true or false"),
        (RowTransformer, {"dropout": float("nan")}, "dropout is nan, but it must be in [0, 1)"),
        (MinGRUNetwork, {"hidden_size": 10**12}, "hidden_size is 1000000000000, but it must be smaller: with"),
        (MinGRUNetwork, {"num_layers": 10**6}, "num_layers is 1000000, but it must be smaller"),
        (MinGRUNetwork, {"hidden_size": "64"}, "hidden_size is '64', but it must be a positive whole number"),
        (MinGRUNetwork, {"num_layers": 0}, "num_layers is 0, but it must be a positive whole number"),
        (MinGRUNetwork, {"num_layers": 1, "dropout": 0.1}, "dropout is 0.1, but it must be 0 with one layer"),
    ],
)
def test_arguments_it_cannot_be_built_with_are_refused_before_allocating(network_class, settings, problem):
    started = time.perf_counter()
    with pytest.raises(ConfigError) as error:
        network_class(**settings)
    assert error.value.problem.startswith(f"--model.network.{problem}"), error.value.problem
    assert time.perf_counter() - started < 0.5  # refused from the settings, not after allocating gigabytes


CAUSAL = [
    (RowTransformer, {"d_model": 16, "num_heads": 2, "dim_feedforward": 16}),
    (MinGRUNetwork, {"hidden_size": 16, "num_layers": 3}),
]


@pytest.mark.parametrize("network_class, settings", CAUSAL)
def test_the_opinion_after_a_row_reads_no_later_row_and_ends_with_the_answer(network_class, settings):
    network = build(network_class, settings).eval()
    assert network.no_opinion_by_row is None and no_opinion_by_row(network) is None
    images = torch.rand(3, 28, 28)
    by_row = network.logits_by_row(images)
    assert by_row.shape == (3, 28, 10)
    torch.testing.assert_close(by_row[:, -1], network(images))
    for row in (0, 9, 26):
        changed = images.clone()
        changed[:, row + 1 :] = torch.rand(3, 27 - row, 28)
        changed_by_row = network.logits_by_row(changed)
        torch.testing.assert_close(changed_by_row[:, : row + 1], by_row[:, : row + 1])
        assert not torch.allclose(changed_by_row[:, row + 1], by_row[:, row + 1])  # the next row is read


def sequential_min_gru(layer, inputs):
    """The paper's recurrence, one step after another: h_t = (1 - z_t) h_{t-1} + z_t h~_t, from h_0 = 0."""
    gate, candidate = layer.gate_and_candidate(inputs).chunk(2, dim=-1)
    write = torch.sigmoid(gate)
    state, states = torch.zeros_like(write[:, 0]), []
    for step in range(inputs.shape[1]):
        state = (1 - write[:, step]) * state + write[:, step] * candidate[:, step]
        states.append(state)
    return torch.stack(states, dim=1)


@pytest.mark.parametrize("scale", [1, 30])
def test_the_min_gru_scan_is_the_recurrence_even_with_saturated_gates(scale):
    torch.manual_seed(0)
    layer = MinGRULayer(28, 16)
    with torch.no_grad():  # scale 30: gates within 1e-12 of 0 or 1, where dividing by a cumulative product overflows
        layer.gate_and_candidate.weight.mul_(scale), layer.gate_and_candidate.bias.mul_(scale)
    inputs = torch.randn(3, 28, 28, requires_grad=True)
    states, expected = layer(inputs), sequential_min_gru(layer, inputs)
    torch.testing.assert_close(states, expected, rtol=1e-3, atol=1e-5 * scale)
    states.sum().backward()
    assert inputs.grad.isfinite().all() and layer.gate_and_candidate.weight.grad.isfinite().all()


def test_a_transformer_without_its_mask_reads_every_row_at_once():
    network = build(RowTransformer, {"d_model": 8, "num_heads": 2, "causal": False}).eval()
    assert network.no_opinion_by_row == no_opinion_by_row(network) and "causal mask" in network.no_opinion_by_row
    with pytest.raises(ValueError, match="causal mask"):
        network.logits_by_row(torch.rand(1, 28, 28))
    images = torch.rand(2, 28, 28)
    changed = images.clone()
    changed[:, -1] = 0
    first_row_token = network.encoder(network.embed(images) + network.position)[:, 0]
    changed_first_row_token = network.encoder(network.embed(changed) + network.position)[:, 0]
    assert not torch.allclose(first_row_token, changed_first_row_token)  # the first token sees the last row


def test_a_cnn_says_it_has_no_opinion_by_row():
    assert "reads the whole image at once" in no_opinion_by_row(ConvNet())


@pytest.mark.parametrize("network_class, settings", SMALL)
def test_gradients_reach_every_parameter(network_class, settings):
    network = build(network_class, settings).train()
    network(torch.rand(4, 28, 28)).logsumexp(dim=1).sum().backward()
    unreached = [name for name, weight in network.named_parameters() if weight.grad is None or not weight.grad.any()]
    assert not unreached


def test_networks_do_not_import_lightning():
    code = (
        "import sys, lit_rnn.model.networks.cnn, lit_rnn.model.networks.mingru, lit_rnn.model.networks.transformer; "
        "assert not [name for name in sys.modules if name.split('.')[0] in ('lightning', 'pytorch_lightning')]"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


EXPORTED = [
    (ConvNet, {"channels": 8, "downsample": "stride", "hidden": 16}),
    (RowTransformer, {"d_model": 16, "num_heads": 2, "dim_feedforward": 16}),
    (RowTransformer, {"d_model": 16, "num_heads": 4, "num_layers": 1, "causal": False}),
    (MinGRUNetwork, {"hidden_size": 16, "num_layers": 2}),
]


@pytest.mark.parametrize("network_class, settings", EXPORTED)
def test_onnx_runtime_agrees_with_pytorch_for_any_batch_size(network_class, settings):
    runtime = pytest.importorskip("onnxruntime")
    from lit_rnn.export import INPUT, OUTPUT, to_onnx

    network = build(network_class, settings).eval()
    for layer in network.modules():  # statistics of their own, so that the export must carry the running ones
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.running_mean.uniform_(-0.5, 0.5), layer.running_var.uniform_(0.5, 2)
    session = runtime.InferenceSession(to_onnx(network), providers=["CPUExecutionProvider"])
    for batch in (1, 7):
        images = torch.rand(batch, 28, 28)
        with torch.inference_mode():
            expected = network(images)
        found = torch.from_numpy(session.run([OUTPUT], {INPUT: images.numpy()})[0])
        torch.testing.assert_close(found, expected, atol=1e-4, rtol=0)
