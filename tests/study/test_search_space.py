"""A sweep's search space: choices, int and float ranges (on a log scale too) as Optuna draws them, the grid of a
space of choices, and every malformed dimension refused with a message naming its key and what to give."""

import json

import optuna
import pytest

from lit_rnn.base.errors import ConfigError
from lit_rnn.study.search_space import Range, corners, grid, labels, parse_space, suggest

SGD = {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.1}}
SPACE = {
    "model.network.cell": ["rnn", "gru", "lstm"],
    "model.optimizer": [SGD, {"class_path": "torch.optim.Adam"}],
    "model.optimizer.init_args.lr": {"low": 0.001, "high": 0.03, "log": True},
    "model.network.hidden_size": {"low": 32, "high": 128, "step": 32},
    "model.network.dropout": {"low": 0.0, "high": 0.5, "step": 0.1},
    "model.network.num_layers": {"low": 1, "high": 3},
}


def test_choices_stay_lists_and_ranges_become_ranges_whole_only_when_their_ends_and_step_are():
    dimensions = parse_space(SPACE)
    assert dimensions["model.network.cell"] == ["rnn", "gru", "lstm"]
    assert dimensions["model.optimizer.init_args.lr"] == Range(0.001, 0.03, None, True)
    assert dimensions["model.network.hidden_size"] == Range(32, 128, 32)
    assert [dimensions[key].whole for key in SPACE if isinstance(dimensions[key], Range)] == [False, True, False, True]
    assert not Range(1, 10.0).whole and not Range(1, 10, 0.5).whole and not Range(True, 3).whole


def test_a_trial_draws_each_dimension_within_its_range_and_a_class_choice_as_the_class_itself():
    dimensions = parse_space(SPACE)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = [suggest(study.ask(), dimensions) for _ in range(20)]
    for values in drawn:
        assert values["model.network.cell"] in SPACE["model.network.cell"]
        assert values["model.optimizer"] in SPACE["model.optimizer"]  # the mapping, not its JSON text
        assert 0.001 <= values["model.optimizer.init_args.lr"] <= 0.03
        assert (
            values["model.network.hidden_size"] in (32, 64, 96, 128)
            and type(values["model.network.hidden_size"]) is int
        )
        assert values["model.network.num_layers"] in (1, 2, 3) and type(values["model.network.num_layers"]) is int
        assert min(abs(values["model.network.dropout"] - 0.1 * k) for k in range(6)) < 1e-9
    assert {values["model.optimizer"]["class_path"] for values in drawn} == {"torch.optim.SGD", "torch.optim.Adam"}
    (trial,) = study.get_trials()[:1]
    assert isinstance(trial.distributions["model.optimizer.init_args.lr"], optuna.distributions.FloatDistribution)
    assert trial.distributions["model.optimizer.init_args.lr"].log
    assert isinstance(trial.distributions["model.network.hidden_size"], optuna.distributions.IntDistribution)
    assert trial.distributions["model.network.hidden_size"].step == 32


def test_a_fixed_trial_gets_the_choice_its_label_names():
    dimensions = parse_space({"model.optimizer": SPACE["model.optimizer"], "seed_everything": [1, None, True]})
    trial = optuna.trial.FixedTrial({"model.optimizer": json.dumps(SGD), "seed_everything": None})
    assert suggest(trial, dimensions) == {"model.optimizer": SGD, "seed_everything": None}


def test_labels_keep_plain_values_and_give_anything_else_as_its_json_text():
    assert labels([1, 0.5, "gru", True, None, SGD, [1, 2]]) == [1, 0.5, "gru", True, None, json.dumps(SGD), "[1, 2]"]


def test_the_grid_of_a_space_of_choices_lists_each_choice_as_optuna_takes_it():
    assert grid(parse_space({"model.network.cell": ["gru", "lstm"], "model.optimizer": [SGD]})) == {
        "model.network.cell": ["gru", "lstm"],
        "model.optimizer": [json.dumps(SGD)],
    }


@pytest.mark.parametrize(
    ("space", "problem"),
    [
        (
            {"model.network.cell": ["gru"], "model.network.hidden_size": {"low": 8, "high": 16}},
            "but model.network.hidden_size is a range:",
        ),
        (
            {"model.network.hidden_size": {"low": 8, "high": 16}, "model.network.dropout": {"low": 0.0, "high": 0.5}},
            "but model.network.hidden_size, model.network.dropout are ranges:",
        ),
    ],
)
def test_a_grid_over_a_range_is_refused_naming_the_ranges(space, problem):
    with pytest.raises(ConfigError) as refused:
        grid(parse_space(space))
    message = str(refused.value)
    assert message.startswith("--sweep.sampler grid tries every combination of choices, " + problem)
    assert message.endswith("list the values to try, or use --sweep.sampler tpe or random.")


def test_the_corners_are_each_choice_and_each_end_of_each_range():
    dimensions = parse_space(
        {"model.network.cell": ["gru", "lstm"], "model.network.hidden_size": {"low": 8, "high": 64, "step": 8}}
    )
    assert corners(dimensions) == [
        {"model.network.cell": "gru"},
        {"model.network.cell": "lstm"},
        {"model.network.hidden_size": 8},
        {"model.network.hidden_size": 64},
    ]


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ([], "is an empty list of choices: give one or more values."),
        ("gru", "is 'gru': give a list of choices, or a range {low, high} with an optional step or log: true."),
        (3, "is 3: give a list of choices, or a range {low, high}"),
        ({"low": 1}, "is {'low': 1}: give a list of choices, or a range {low, high}"),
        ({"low": 1, "high": 2, "steps": 1}, "is {'low': 1, 'high': 2, 'steps': 1}: give a list of choices"),
        ({"low": "1", "high": 2}, "is {'low': '1', 'high': 2}: low, high and step must be numbers."),
        ({"low": 0, "high": True}, "is {'low': 0, 'high': True}: low, high and step must be numbers."),
        (
            {"low": 1, "high": 2, "step": [1]},
            "is {'low': 1, 'high': 2, 'step': [1]}: low, high and step must be numbers.",
        ),
        ({"low": 5, "high": 1}, "has low 5 above high 1: swap them."),
        ({"low": 0, "high": 1, "log": True}, "is log-scaled: its low must be above 0, and it takes no step."),
        ({"low": -1.0, "high": 1.0, "log": True}, "is log-scaled: its low must be above 0"),
        (
            {"low": 1, "high": 8, "step": 1, "log": True},
            "is log-scaled: its low must be above 0, and it takes no step.",
        ),
        ({"low": 1, "high": 8, "step": 0}, "has step 0: a step must be above 0."),
        ({"low": 0.0, "high": 1.0, "step": -0.1}, "has step -0.1: a step must be above 0."),
    ],
)
def test_a_malformed_dimension_is_refused_naming_its_key_and_what_to_give(given, problem):
    with pytest.raises(ConfigError) as refused:
        parse_space({"model.network.cell": ["gru"], "model.x": given})
    assert str(refused.value).startswith(f"--sweep.space's model.x {problem}")


def test_an_empty_space_is_refused_with_an_example():
    with pytest.raises(ConfigError, match=r"^--sweep.space is empty: give at least one fit option to vary, such as"):
        parse_space({})
