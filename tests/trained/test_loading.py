"""A trained model rebuilt from its checkpoint (``lit_rnn.trained.loading``), through ``python -m lit_rnn.predict``, the
command that does nothing else with it: a file that is no checkpoint of this project, or holds weights that are not
numbers, is one line naming it, and nothing that a checkpoint names is ever imported."""

import sys
from pathlib import Path

import lightning
import pytest
import torch
from helpers.checkpoints import lightning_like_checkpoint
from helpers.drawings import draw_seven
from lightning.pytorch.demos.boring_classes import BoringModel

from lit_rnn.model.classifier import MNISTClassifier
from lit_rnn.predict import main
from lit_rnn.trained.loading import load_network

CHECKPOINTS = Path("lightning_logs") / "version_0" / "checkpoints"


def another_kind(path: Path, kind: str) -> Path:
    if kind == "text":
        path.write_text("not a checkpoint")
    elif kind == "weights only":
        torch.save({"weights": torch.zeros(3)}, path)
    elif kind == "another model":
        torch.save(
            {
                "state_dict": BoringModel().state_dict(),
                "hyper_parameters": {},
                "pytorch-lightning_version": lightning.__version__,
            },
            path,
        )
    return path


@pytest.mark.parametrize("kind", ["missing", "text", "weights only", "another model"])
def test_a_missing_checkpoint_or_one_of_another_kind_is_one_line_naming_it(kind, tmp_path, capsys):
    checkpoint = another_kind(tmp_path / "model.ckpt", kind)
    with pytest.raises(SystemExit) as exit:
        main(["--ckpt_path", str(checkpoint), str(draw_seven(tmp_path / "seven.png"))])
    assert exit.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    expected = "does not exist" if kind == "missing" else "is not a"
    assert line.startswith(f"error: The checkpoint {checkpoint} {expected}")


def test_a_checkpoint_with_non_finite_weights_is_refused(tiny_run, tmp_path, capsys):
    (best,) = (tiny_run / CHECKPOINTS).glob("best-*.ckpt")
    checkpoint = torch.load(best, weights_only=True)
    checkpoint["state_dict"]["network.out.bias"][3] = float("nan")
    torch.save(checkpoint, tmp_path / "diverged.ckpt")
    with pytest.raises(SystemExit) as exit:
        main(["--ckpt_path", str(tmp_path / "diverged.ckpt"), "--indices", "0"])
    assert exit.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: The checkpoint {tmp_path / 'diverged.ckpt'} ")
    assert "holds weights that are not finite numbers" in line and "lower --model.optimizer.lr" in line


SIDE_EFFECT = "from pathlib import Path\nPath(__file__).with_name('IMPORTED').touch()\nNothing = print\n"


@pytest.fixture
def importable(tmp_path, monkeypatch):
    """A folder on this process's path, holding ``sideeffect.py``, which leaves a file ``IMPORTED`` when imported."""
    (tmp_path / "sideeffect.py").write_text(SIDE_EFFECT)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("sideeffect", None)
    yield tmp_path
    sys.modules.pop("sideeffect", None)  # so that the next test's import runs the module again


@pytest.mark.parametrize("cell", ["lstm", "sideeffect"])
def test_nothing_a_checkpoint_names_is_ever_imported(tiny_run, importable, monkeypatch, cell, capsys):
    """A crafted checkpoint names a module that leaves a file when imported, where Lightning would import it."""
    (best,) = (tiny_run / CHECKPOINTS).glob("best-*.ckpt")
    checkpoint = torch.load(best, weights_only=True)
    # Lightning's loader hands the hyperparameters to jsonargparse, which imports the class_path they name.
    checkpoint["hyper_parameters"].update(cell=cell, optimizer={"class_path": "sideeffect.Nothing"})
    crafted = importable / "crafted.ckpt"
    torch.save(checkpoint, crafted)
    monkeypatch.chdir(tiny_run)
    if cell != "lstm":
        with pytest.raises(SystemExit) as exit:
            main(["--ckpt_path", str(crafted), "--indices", "0"])
        assert exit.value.code == 2 and not (importable / "IMPORTED").exists()
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith(
            f"error: The checkpoint {crafted} holds model settings that cannot be built "
            "(--model.cell is 'sideeffect', but it must be one of 'lstm', 'gru', 'rnn'.)"
        )
        return
    main(["--ckpt_path", str(crafted), "--indices", "0"])
    captured = capsys.readouterr()
    assert not (importable / "IMPORTED").exists()
    assert captured.err == "" and "test image 0:" in captured.out  # the network's own settings are sound
    # The same checkpoint through Lightning's loader imports the module: the test above would see it.
    MNISTClassifier.load_from_checkpoint(crafted)
    assert (importable / "IMPORTED").exists()


@pytest.mark.parametrize(
    "settings", [{}, {"cell": "gru", "hidden_size": 12, "rows_per_step": 2, "crop_rows": 4}], ids=["older", "stepped"]
)
def test_the_network_is_rebuilt_as_it_was_trained(settings, tmp_path):
    """Every setting that shapes the network comes back from the checkpoint; a checkpoint written before a setting
    existed (its hyperparameters lack it) gets the setting's default, the network it was trained as."""
    model = MNISTClassifier(**settings)
    saved = {key: value for key, value in model.hparams.items() if key in settings or key in ("cell", "hidden_size")}
    torch.save(lightning_like_checkpoint(state_dict=model.state_dict(), hyper_parameters=saved), tmp_path / "m.ckpt")
    trained = load_network(tmp_path / "m.ckpt")
    images = torch.rand(3, 28, 28)
    torch.testing.assert_close(trained.network(images), model.network.eval()(images))
    assert {key: trained.architecture[key] for key in settings} == settings
