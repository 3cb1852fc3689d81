import pytest
import torch

from lit_rnn.base.errors import ConfigError
from lit_rnn.model.networks import MAX_WEIGHTS
from lit_rnn.model.networks.recurrent import RecurrentNetwork, weight_count


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_logits_shape_for_each_cell(cell, bidirectional):
    network = RecurrentNetwork(cell=cell, hidden_size=16, num_layers=2, dropout=0.1, bidirectional=bidirectional)
    assert network(torch.rand(5, 28, 28)).shape == (5, 10)


def test_default_is_the_tutorials_lstm():
    network = RecurrentNetwork()
    assert isinstance(network.rnn, torch.nn.LSTM)
    assert (network.rnn.input_size, network.rnn.hidden_size, network.rnn.num_layers) == (28, 64, 1)
    assert network.rnn.batch_first and (network.out.in_features, network.out.out_features) == (64, 10)


def test_output_depends_on_the_last_row_seen():
    torch.manual_seed(0)
    network = RecurrentNetwork(hidden_size=8)
    images = torch.rand(2, 28, 28)
    changed = images.clone()
    changed[:, -1] = 0
    assert not torch.allclose(network(images), network(changed))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers, bidirectional", [(1, False), (3, True)])
def test_the_weight_count_is_the_networks_without_building_it(cell, layers, bidirectional):
    network = RecurrentNetwork(cell=cell, hidden_size=12, num_layers=layers, bidirectional=bidirectional)
    assert weight_count(cell, 12, layers, bidirectional) == sum(weight.numel() for weight in network.parameters())


@pytest.mark.parametrize(
    "settings, problem",
    [
        (
            {"hidden_size": 10**12},
            "--model.network.hidden_size is 1000000000000, but it must be smaller: with hidden_size",
        ),
        ({"num_layers": 10**12}, "--model.network.num_layers is 1000000000000, but it must be smaller"),
        ({"hidden_size": 4000, "num_layers": 2}, "--model.network.num_layers is 2, but it must be smaller"),
        (
            {"hidden_size": True},
            "--model.network.hidden_size is True, but it must be a positive whole number",
        ),
        (
            {"hidden_size": "64"},
            "--model.network.hidden_size is '64', but it must be a positive whole number",
        ),
        (
            {"cell": "this.Nothing"},
            "--model.network.cell is 'this.Nothing', but it must be one of 'lstm', 'gru', 'rnn'",
        ),
        (
            {"dropout": float("nan"), "num_layers": 2},
            "--model.network.dropout is nan, but it must be in [0, 1)",
        ),
        ({"bidirectional": "yes"}, "--model.network.bidirectional is 'yes', but it must be true or false"),
        ({"num_classes": 0}, "--model.network.num_classes is 0, but it must be a whole number from 1"),
    ],
)
def test_settings_it_cannot_be_built_with_are_refused_before_allocating(settings, problem):
    with pytest.raises(ConfigError) as error:
        RecurrentNetwork(**settings)
    assert error.value.problem.startswith(problem)
    assert weight_count("lstm", 4000, 1, False) <= MAX_WEIGHTS  # one such layer would fit


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_opinion_by_row_ends_with_the_answer(cell):
    network = RecurrentNetwork(cell=cell, hidden_size=16, num_layers=2).eval()
    images = torch.rand(3, 28, 28)
    by_row = network.logits_by_row(images)
    assert by_row.shape == (3, 28, 10)
    torch.testing.assert_close(by_row[:, -1], network(images))
    torch.testing.assert_close(by_row[:, 4], network(images[:, :5]))  # after row 4 it has read rows 0-4 alone


def test_a_bidirectional_network_has_no_opinion_by_row():
    with pytest.raises(ValueError, match="bidirectional"):
        RecurrentNetwork(bidirectional=True).logits_by_row(torch.rand(1, 28, 28))


@pytest.mark.parametrize("rows_per_step, crop_rows", [(1, 0), (2, 0), (2, 4), (4, 2), (3, 5)])
def test_the_network_reads_only_the_rows_it_keeps_in_steps_of_several(rows_per_step, crop_rows):
    torch.manual_seed(0)
    network = RecurrentNetwork(hidden_size=8, rows_per_step=rows_per_step, crop_rows=crop_rows).eval()
    kept = slice(crop_rows, 28 - crop_rows)
    assert network.rnn.input_size == 28 * rows_per_step
    images = torch.rand(2, 28, 28)
    steps, _ = network.rnn(images[:, kept].reshape(2, (28 - 2 * crop_rows) // rows_per_step, 28 * rows_per_step))
    torch.testing.assert_close(network(images), network.out(steps[:, -1]))
    cropped_changed = images.clone()
    cropped_changed[:, :crop_rows] = cropped_changed[:, 28 - crop_rows :] = 0.5
    torch.testing.assert_close(network(cropped_changed), network(images))


@pytest.mark.parametrize("rows_per_step, crop_rows", [(1, 0), (2, 4), (4, 2), (3, 5)])
def test_the_opinion_after_a_row_depends_on_no_later_row_and_ends_with_the_answer(rows_per_step, crop_rows):
    torch.manual_seed(0)
    network = RecurrentNetwork(hidden_size=8, rows_per_step=rows_per_step, crop_rows=crop_rows).eval()
    images = torch.rand(2, 28, 28)
    by_row = network.logits_by_row(images)
    assert by_row.shape == (2, 28, 10)
    torch.testing.assert_close(by_row[:, -1], network(images))
    # Before its first step the network holds the same opinion of every image; after its last, its answer.
    torch.testing.assert_close(by_row[0, : crop_rows + rows_per_step - 1], by_row[1, : crop_rows + rows_per_step - 1])
    torch.testing.assert_close(by_row[:, 27 - crop_rows :], by_row[:, -1:].expand(2, crop_rows + 1, 10))
    for row in range(27):
        later_changed = images.clone()
        later_changed[:, row + 1 :] = torch.rand(2, 27 - row, 28)
        torch.testing.assert_close(network.logits_by_row(later_changed)[:, : row + 1], by_row[:, : row + 1])
    # The opinion changes at each step's last row, and only there.
    changes = (by_row[:, 1:] - by_row[:, :-1]).abs().amax(dim=(0, 2)) > 0
    step_ends = {row for row in range(crop_rows, 28 - crop_rows) if (row + 1 - crop_rows) % rows_per_step == 0}
    assert {row + 1 for row in changes.nonzero().flatten().tolist()} == step_ends - {0}  # row 0 has no row before


@pytest.mark.parametrize(
    "settings, problem",
    [
        (
            {"rows_per_step": 3},
            "--model.network.rows_per_step is 3, but it must be one of 1, 2, 4, 7, 14, 28: the 28 rows",
        ),
        (
            {"rows_per_step": 3, "crop_rows": 4},
            "--model.network.rows_per_step is 3, but it must be one of 1, 2, 4, 5, 10, 20: the 20 rows read",
        ),
        (
            {"rows_per_step": 0},
            "--model.network.rows_per_step is 0, but it must be one of 1, 2, 4, 7, 14, 28",
        ),
        ({"rows_per_step": 2.0}, "--model.network.rows_per_step is 2.0, but it must be one of"),
        ({"crop_rows": 14}, "--model.network.crop_rows is 14, but it must be a whole number from 0 to 13"),
        ({"crop_rows": -1}, "--model.network.crop_rows is -1, but it must be a whole number from 0 to 13"),
        (
            {"crop_rows": True},
            "--model.network.crop_rows is True, but it must be a whole number from 0 to 13",
        ),
    ],
)
def test_rows_it_cannot_read_in_whole_steps_are_refused(settings, problem):
    with pytest.raises(ConfigError) as error:
        RecurrentNetwork(**settings)
    assert error.value.problem.startswith(problem)


def test_the_weight_count_counts_the_wider_steps():
    network = RecurrentNetwork(hidden_size=12, rows_per_step=4, crop_rows=4)
    assert weight_count("lstm", 12, 1, False, input_size=28 * 4) == sum(
        weight.numel() for weight in network.parameters()
    )
