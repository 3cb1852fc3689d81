"""A user's own network, from a module outside lit_rnn: it trains when the user names it on fit's command line, and
its checkpoint is rebuilt by test, predict and export only where the user allows its module (``--allow_module``);
until then it is refused in one line, and nothing of the module is imported."""

import sys

import pytest
from helpers.commands import REPO, TESTS, run_module, tiny_fit_args

from lit_rnn import export, predict, test

OWN_NETWORK = '''
from pathlib import Path

from torch import nn

Path(__file__).with_name("IMPORTED").touch()  # a trace of every import


class TinyMLP(nn.Module):
    """A user's network: the image's pixels through one hidden layer."""

    def __init__(self, hidden: int = 16, num_classes: int = 10) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, images):
        return self.layers(images)
'''


@pytest.fixture(scope="module")
def own_run(tmp_path_factory, tiny_mnist):
    """A fit of ``mynets.TinyMLP`` from a folder of the user's: (the folder it ran in, the module's folder)."""
    code = tmp_path_factory.mktemp("own_code")
    (code / "mynets.py").write_text(OWN_NETWORK)
    workdir = tmp_path_factory.mktemp("own_run")
    path = ":".join(map(str, (REPO, TESTS, code)))
    args = tiny_fit_args(tiny_mnist, "--model.network=mynets.TinyMLP", "--model.network.hidden=24")
    result = run_module("lit_rnn.fit", args, cwd=workdir, env={"PYTHONPATH": path})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Test accuracy on the 200 MNIST test images:" in result.stdout
    (code / "IMPORTED").unlink()
    return workdir, code


@pytest.fixture
def in_own_run(own_run, monkeypatch):
    """In the run's folder, the user's module importable (so that an import would leave its trace), not yet imported."""
    workdir, code = own_run
    monkeypatch.chdir(workdir)
    monkeypatch.syspath_prepend(str(code))
    monkeypatch.setattr(sys, "argv", ["lit_rnn"])
    sys.modules.pop("mynets", None)
    yield code
    sys.modules.pop("mynets", None)
    (code / "IMPORTED").unlink(missing_ok=True)


@pytest.mark.parametrize("allowed", [[], ["mynet"], ["lit_rnn"]], ids=["none", "a prefix of its name", "lit_rnn"])
@pytest.mark.parametrize("command", [test, predict, export])
def test_its_checkpoint_is_refused_in_one_line_until_its_module_is_allowed(command, allowed, in_own_run, capsys):
    args = ["--indices", "0"] if command is predict else []
    with pytest.raises(SystemExit) as exit:
        command.main([*args, *(f"--allow_module={module}" for module in allowed)])
    assert exit.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: The checkpoint lightning_logs/version_0/checkpoints/best-")
    assert line.endswith(
        "names the network mynets.TinyMLP, which is not one of lit_rnn's networks, so nothing of it was imported. "
        "If mynets is your own code and you trust this checkpoint, allow it with --allow_module mynets."
    )
    assert "mynets" not in sys.modules and not (in_own_run / "IMPORTED").exists()


def test_allowed_its_module_it_tests_predicts_and_exports(in_own_run, capsys):
    allowed = ["--allow_module", "mynets"]
    evaluation = test.main(allowed)
    assert evaluation.images == 200 and 0 <= evaluation.accuracy <= 1
    (prediction,) = predict.main([*allowed, "--indices", "3"])
    assert prediction.source == "test image 3" and 0 <= prediction.digit <= 9
    agreement = export.main([*allowed, "--output", "own.onnx"])
    assert agreement.images == 200 and agreement.same_digit == 200
    assert (in_own_run / "IMPORTED").exists()
