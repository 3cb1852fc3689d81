"""The tutorial's result on the real MNIST, through the real command lines."""

import re

import pytest
from helpers.commands import reported_accuracy, run_module
from helpers.drawings import draw_seven

pytestmark = pytest.mark.slow  # the real data

TUTORIAL_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_default_config_reaches_the_tutorials_accuracy(default_run):
    _, out = default_run
    assert "Test accuracy on the 10,000 MNIST test images" in out
    assert reported_accuracy(out) >= 0.94
    predicted = eval(re.search(r"^(\[.*\]) prediction number$", out, re.M).group(1))
    real = eval(re.search(r"^(\[.*\]) real number$", out, re.M).group(1))
    assert real == TUTORIAL_LABELS
    assert len(predicted) == 10 and sum(p == r for p, r in zip(predicted, real)) >= 8


def test_predict_after_the_default_run_gives_the_tutorials_digits_and_reads_a_drawn_seven(default_run, tmp_path):
    workdir, fit_out = default_run
    sevens = [
        draw_seven(tmp_path / "seven.png"),
        draw_seven(tmp_path / "seven_on_black.jpg", "white", "black", size=(900, 600)),
    ]
    result = run_module("lit_rnn.predict", ["--ckpt_path", "best", "--indices", "0-9", *map(str, sevens)], cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = re.findall(r"^test image (\d): (\d) \(probability [0-9.]+\), true label (\d)", result.stdout, re.M)
    assert [int(label) for *_, label in lines] == TUTORIAL_LABELS
    # the best checkpoint, which fit tested, answers as it did at the end of fit
    assert [int(digit) for _, digit, _ in lines] == eval(
        re.search(r"^(\[.*\]) prediction number$", fit_out, re.M).group(1)
    )
    for seven in sevens:
        assert re.search(rf"^{re.escape(str(seven))}: 7 \(probability [0-9.]+\)$", result.stdout, re.M), result.stdout
