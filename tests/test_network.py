import pytest
import torch

from lit_rnn.network import RecurrentClassifier


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
