"""The entry points' decorator: user errors and parse errors become one line, and so does an unforeseen bug."""

import re
import sys
from pathlib import Path

import pytest

from lit_rnn.base.errors import ConfigError, exits_cleanly_on_user_error, summarize_parse_error
from lit_rnn.fit import main as fit


def failing(error: BaseException):
    @exits_cleanly_on_user_error
    def main() -> None:
        raise error

    return main


def test_an_unforeseen_exception_is_one_line_pointing_at_its_traceback(capsys):
    def deep_inside() -> None:
        raise RuntimeError("no such weight\nsecond line")

    @exits_cleanly_on_user_error
    def main() -> None:
        deep_inside()

    with pytest.raises(SystemExit) as exit:
        main()
    assert exit.value.code == 1
    (line,) = capsys.readouterr().err.splitlines()
    match = re.fullmatch(
        r"error: this is a bug in lit_rnn: RuntimeError: no such weight \.\.\. second line\. "
        r"The full traceback is in (\S+lit_rnn-crash-\S+\.txt); please report it\.",
        line,
    )
    assert match, line
    report = Path(match[1]).read_text()
    Path(match[1]).unlink()
    assert report.startswith("Traceback") and "deep_inside" in report and "second line" in report


@pytest.mark.parametrize("error", [KeyboardInterrupt(), SystemExit(3)])
def test_interrupts_and_exits_pass_through_untouched(error, capsys):
    with pytest.raises(type(error)):
        failing(error)()
    assert capsys.readouterr().err == ""


def test_a_user_error_keeps_its_message_and_exit_code(capsys):
    with pytest.raises(SystemExit) as exit:
        failing(ConfigError("--x is 3, but it must be 2."))()
    assert exit.value.code == 2 and capsys.readouterr().err == "error: --x is 3, but it must be 2.\n"


@pytest.mark.parametrize(
    "argument, expected",
    [
        ("--model.optimizer.lr=nan", "--model.optimizer.lr is 'nan', but it must be a finite positive number."),
        ("--model.optimizer.lr=inf", "--model.optimizer.lr is 'inf', but it must be a finite positive number."),
        ("--model.network.dropout=-inf", "--model.network.dropout is '-inf', but it must be a finite number."),
        ("--model.network.hidden_size=abc", "--model.network.hidden_size is 'abc', but it must be of type int."),
        ("--model.network.cell=", "--model.network.cell is '', but it must be one of 'lstm', 'gru', 'rnn'."),
        ("--model.optimizer.betas=abc", "--model.optimizer.betas is 'abc', but it must be of type tuple."),
        ("--trainer.max_epochs=abc", "--trainer.max_epochs is 'abc', but it must be of type int."),
    ],
)
def test_a_value_of_the_wrong_kind_is_one_sentence_naming_the_option(argument, expected, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["lit_rnn.fit"])  # as from the command line, whatever pytest was given
    with pytest.raises(SystemExit) as exit:
        fit(["--print_config", argument])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"error: {expected} Run with --help to see the options."], err


def test_an_unknown_report_is_still_one_sentence():
    assert summarize_parse_error("Something\n  went wrong") == "Something went wrong."


def test_a_class_missing_a_required_argument_names_it(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["lit_rnn.fit"])
    with pytest.raises(SystemExit):
        fit(["--model.scheduler=torch.optim.lr_scheduler.StepLR"])
    assert capsys.readouterr().err.splitlines() == [
        "error: --model.scheduler is torch.optim.lr_scheduler.StepLR, which needs --model.scheduler.step_size: give it a "
        "value. Run with --help to see the options."
    ]


RECURRENT = "lit_rnn.model.networks.recurrent.RecurrentNetwork"


@pytest.mark.parametrize(
    "argument, expected",
    [
        ("--model.network.hidden=8", f"--model.network.hidden is not an argument of {RECURRENT} (each is given by its"),
        ("--model.optimizer.l=0.1", "--model.optimizer.l is not an argument of torch.optim.Adam (each is given by its"),
        ("--trainer.max_ep=2", "unrecognized arguments: --trainer.max_ep=2."),
        ("--model.label_smooth=0.1", "unrecognized arguments: --model.label_smooth=0.1."),
        ("--seed_every=3", "unrecognized arguments: --seed_every=3."),
    ],
)
def test_an_abbreviated_option_is_refused_not_taken_for_the_option_it_begins(argument, expected, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["lit_rnn.fit"])
    with pytest.raises(SystemExit) as exit:
        fit(["--print_config", argument])
    assert exit.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {expected}") and line.endswith("Run with --help to see the options.")


@pytest.mark.parametrize("command", ["predict", "test", "export", "serve"])
def test_the_trained_model_commands_refuse_abbreviations_too(command, capsys):
    import importlib

    with pytest.raises(SystemExit) as exit:
        importlib.import_module(f"lit_rnn.{command}").main(["--ckpt_pat=best"])
    assert exit.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: unrecognized arguments: --ckpt_pat=best.")
