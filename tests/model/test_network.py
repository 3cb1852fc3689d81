import pytest
import torch

from lit_rnn.base.errors import ConfigError
from lit_rnn.model.network import MAX_WEIGHTS, RecurrentClassifier, weight_count


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_logits_shape_for_each_cell(cell, bidirectional):
    network = RecurrentClassifier(cell=cell, hidden_size=16, num_layers=2, dropout=0.1, bidirectional=bidirectional)
    assert network(torch.rand(5, 28, 28)).shape == (5, 10)


def test_default_is_the_tutorials_lstm():
    network = RecurrentClassifier()
    assert isinstance(network.rnn, torch.nn.LSTM)
    assert (network.rnn.input_size, network.rnn.hidden_size, network.rnn.num_layers) == (28, 64, 1)
    assert network.rnn.batch_first and (network.out.in_features, network.out.out_features) == (64, 10)


def test_output_depends_on_the_last_row_seen():
    torch.manual_seed(0)
    network = RecurrentClassifier(hidden_size=8)
    images = torch.rand(2, 28, 28)
    changed = images.clone()
    changed[:, -1] = 0
    assert not torch.allclose(network(images), network(changed))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers, bidirectional", [(1, False), (3, True)])
def test_the_weight_count_is_the_networks_without_building_it(cell, layers, bidirectional):
    network = RecurrentClassifier(cell=cell, hidden_size=12, num_layers=layers, bidirectional=bidirectional)
    assert weight_count(cell, 12, layers, bidirectional) == sum(weight.numel() for weight in network.parameters())


@pytest.mark.parametrize(
    "settings, problem",
    [
        (
            {"hidden_size": 10**12},
            "--model.hidden_size is 1000000000000, but it must be smaller: with --model.hidden_size",
        ),
        ({"num_layers": 10**12}, "--model.num_layers is 1000000000000, but it must be smaller"),
        ({"hidden_size": 4000, "num_layers": 2}, "--model.num_layers is 2, but it must be smaller"),
        ({"hidden_size": True}, "--model.hidden_size is True, but it must be a positive whole number"),
        ({"hidden_size": "64"}, "--model.hidden_size is '64', but it must be a positive whole number"),
        ({"cell": "this.Nothing"}, "--model.cell is 'this.Nothing', but it must be one of 'lstm', 'gru', 'rnn'"),
        ({"dropout": float("nan"), "num_layers": 2}, "--model.dropout is nan, but it must be in [0, 1)"),
        ({"bidirectional": "yes"}, "--model.bidirectional is 'yes', but it must be true or false"),
        ({"normalize_input": 1}, "--model.normalize_input is 1, but it must be true or false"),
    ],
)
def test_settings_it_cannot_be_built_with_are_refused_before_allocating(settings, problem):
    with pytest.raises(ConfigError) as error:
        RecurrentClassifier(**settings)
    assert error.value.problem.startswith(problem)
    assert weight_count("lstm", 4000, 1, False) <= MAX_WEIGHTS  # one such layer would fit


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_opinion_by_row_ends_with_the_answer(cell):
    network = RecurrentClassifier(cell=cell, hidden_size=16, num_layers=2, normalize_input=True).eval()
    images = torch.rand(3, 28, 28)
    by_row = network.logits_by_row(images)
    assert by_row.shape == (3, 28, 10)
    torch.testing.assert_close(by_row[:, -1], network(images))
    torch.testing.assert_close(by_row[:, 4], network(images[:, :5]))  # after row 4 it has read rows 0-4 alone


def test_a_bidirectional_network_has_no_opinion_by_row():
    with pytest.raises(ValueError, match="bidirectional"):
        RecurrentClassifier(bidirectional=True).logits_by_row(torch.rand(1, 28, 28))
