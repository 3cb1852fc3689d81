"""The tutorial's result on the real MNIST, through the real command line."""

import re

from conftest import reported_accuracy, run_module


def test_default_config_reaches_the_tutorials_accuracy(real_mnist, tmp_path):
    result = run_module("lit_rnn.fit", [f"--data.data_dir={real_mnist}", "--trainer.enable_progress_bar=false"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Test accuracy on the 10,000 MNIST test images" in result.stdout
    assert reported_accuracy(result.stdout) >= 0.94
    predicted = eval(re.search(r"^(\[.*\]) prediction number$", result.stdout, re.M).group(1))
    real = eval(re.search(r"^(\[.*\]) real number$", result.stdout, re.M).group(1))
    assert real == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert len(predicted) == 10 and sum(p == r for p, r in zip(predicted, real)) >= 8
