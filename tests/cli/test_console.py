"""What ``python -m lit_rnn.fit`` prints: the progress, the model, the results, and warnings about the user's settings.

Each noise string below was in the output of a default run before ``lit_rnn.cli.console`` silenced it. The output is
a real fit process's: the tests run with ``-m slow``.
"""

import pytest
from helpers.commands import run_module, tiny_fit_args

pytestmark = pytest.mark.slow  # fit processes

NOISE = (
    "💡 Tip",  # Lightning's advertisements
    "LeafSpec",  # a deprecation inside Lightning
    "Sanity Checking",  # the sanity check's progress bar
    "smaller than the logging interval Trainer(log_every_n_steps=50)",  # Lightning's default interval, not the user's
)
RESULTS = (
    "Epoch ",
    "Trainable params",
    "Test accuracy on the 200 MNIST test images:",
    "Logs and checkpoints: lightning_logs/version_0",
    "View them: tensorboard --logdir lightning_logs",
)
# The progress bar and the model summary on, as by default; Lightning's default logging interval (50 steps),
# which is longer than an epoch of the tiny data.
SHOWN = (
    "--trainer.enable_progress_bar=true",
    "--trainer.enable_model_summary=true",
    "--trainer.log_every_n_steps=null",
    "--trainer.max_epochs=1",
)


@pytest.fixture(scope="module")
def outputs(tiny_mnist, tmp_path_factory):
    """The whole output of a default fit, and of its resume with a logging interval the user chose."""
    workdir = tmp_path_factory.mktemp("console")
    fresh = run_module("lit_rnn.fit", tiny_fit_args(tiny_mnist, *SHOWN), cwd=workdir)
    resumed = run_module(
        "lit_rnn.fit",
        tiny_fit_args(
            tiny_mnist, *SHOWN, "--ckpt_path=last", "--trainer.max_epochs=2", "--trainer.log_every_n_steps=100"
        ),
        cwd=workdir,
    )
    assert fresh.returncode == resumed.returncode == 0, fresh.stderr[-3000:] + resumed.stderr[-3000:]
    return {"fresh": fresh.stdout + fresh.stderr, "resumed": resumed.stdout + resumed.stderr}


@pytest.mark.parametrize("run", ["fresh", "resumed"])
def test_a_fit_prints_its_progress_model_and_results_once_and_no_noise(outputs, run):
    output = outputs[run]
    assert [text for text in NOISE if text in output] == []
    assert all(line in output for line in RESULTS), output[-3000:]
    assert output.count("Trainable params") == 1


def test_a_warning_about_the_users_own_setting_still_shows(outputs):
    assert (
        "The number of training batches (10) is smaller than the logging interval Trainer(log_every_n_steps=100)"
        in outputs["resumed"]
    )
