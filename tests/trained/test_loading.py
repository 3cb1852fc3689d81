"""A trained model rebuilt from its checkpoint (``lit_rnn.trained.loading``), through ``python -m lit_rnn.predict``, the
command that does nothing else with it: a file that is no checkpoint of this project, or holds weights that are not
numbers, is one line naming it, and nothing that a checkpoint names is ever imported."""

import shutil
import sys
from pathlib import Path

import lightning
import pytest
import torch
import yaml
from helpers.checkpoints import lightning_like_checkpoint
from helpers.drawings import draw_seven
from lightning.pytorch.demos.boring_classes import BoringModel

from lit_rnn import export
from lit_rnn import test as test_command
from lit_rnn.model.classifier import MNISTClassifier
from lit_rnn.model.networks.recurrent import RecurrentNetwork
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


@pytest.mark.parametrize("named", ["nothing", "as an argument", "as the network"])
def test_nothing_a_checkpoint_names_is_ever_imported(tiny_run, importable, monkeypatch, named, capsys):
    """A crafted checkpoint names a module that leaves a file when imported, where Lightning would import it."""
    (best,) = (tiny_run / CHECKPOINTS).glob("best-*.ckpt")
    checkpoint = torch.load(best, weights_only=True)
    # Lightning's loader hands the hyperparameters to jsonargparse, which imports the class_path they name.
    checkpoint["hyper_parameters"]["optimizer"] = {"class_path": "sideeffect.Nothing"}
    network = checkpoint["hyper_parameters"]["network"]
    if named == "as an argument":
        network["init_args"]["cell"] = "sideeffect"
    elif named == "as the network":
        network["class_path"] = "sideeffect.Nothing"
    crafted = importable / "crafted.ckpt"
    torch.save(checkpoint, crafted)
    monkeypatch.chdir(tiny_run)
    if named != "nothing":
        with pytest.raises(SystemExit) as exit:
            main(["--ckpt_path", str(crafted), "--indices", "0"])
        assert exit.value.code == 2 and not (importable / "IMPORTED").exists()
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith(
            f"error: The checkpoint {crafted} holds model settings that cannot be built "
            "(--model.network.cell is 'sideeffect', but it must be one of 'lstm', 'gru', 'rnn'.)"
            if named == "as an argument"
            else f"error: The checkpoint {crafted} names the network sideeffect.Nothing, which is not one of lit_rnn's "
            "networks, so nothing of it was imported. If sideeffect is your own code and you trust this checkpoint, "
            "allow it with --allow_module sideeffect."
        )
        return
    main(["--ckpt_path", str(crafted), "--indices", "0"])
    captured = capsys.readouterr()
    assert not (importable / "IMPORTED").exists()
    assert captured.err == "" and "test image 0:" in captured.out  # the network's own settings are sound
    # The same checkpoint through Lightning's loader imports the module: the test above would see it.
    MNISTClassifier.load_from_checkpoint(crafted)
    assert (importable / "IMPORTED").exists()


RECURRENT = "lit_rnn.model.networks.recurrent.RecurrentNetwork"


@pytest.mark.parametrize(
    "saved, normalize_input",
    [
        ({"cell": "lstm", "hidden_size": 64}, False),  # an old run: the recurrent settings were the model's own
        ({"cell": "gru", "hidden_size": 12, "rows_per_step": 2, "crop_rows": 4, "normalize_input": True}, True),
        ({"network": {"class_path": RECURRENT, "init_args": {"cell": "gru", "hidden_size": 12}}}, False),
        ({"network": {"class_path": RECURRENT, "init_args": {"crop_rows": 2}}, "normalize_input": True}, True),
    ],
    ids=["older", "older stepped and standardized", "a component", "a standardized component"],
)
def test_the_network_is_rebuilt_as_it_was_trained(saved, normalize_input, tmp_path):
    """Every setting that shapes the network comes back from the checkpoint, in today's layout or an old run's; a
    setting the checkpoint lacks (written before it existed) gets its default, the network it was trained as."""
    init_args = saved.get("network", {}).get("init_args") or {
        key: saved[key] for key in saved if key != "normalize_input"
    }
    model = MNISTClassifier(RecurrentNetwork(**init_args), normalize_input=normalize_input)
    if normalize_input:
        model.standardize.set_statistics(0.1307, 0.3081)  # MNIST's, which old runs standardized by
    torch.save(lightning_like_checkpoint(state_dict=model.state_dict(), hyper_parameters=saved), tmp_path / "m.ckpt")
    trained = load_network(tmp_path / "m.ckpt")
    images = torch.rand(3, 28, 28)
    torch.testing.assert_close(trained.network(images), model.eval()(images))
    assert trained.settings["network"] == {"class_path": RECURRENT, "init_args": init_args}
    assert trained.settings["normalize_input"] is normalize_input


@pytest.mark.parametrize("command", ["test", "predict", "export"])
def test_a_run_whose_config_and_checkpoint_name_other_classes_everywhere_imports_and_calls_none_of_them(
    command, tiny_run, importable, monkeypatch
):
    """Issue 31: the commands that read a run by themselves (its config.yaml, its checkpoints) build only the
    network, from lit_rnn's own, and the loggers they continue, looked up by name."""
    touched = importable / "touched"
    calls = {"class_path": "os.system", "init_args": {"command": f"touch {touched}"}}
    imports = {"class_path": "sideeffect.Nothing"}
    shutil.copytree(tiny_run / "lightning_logs", importable / "lightning_logs")
    run = importable / "lightning_logs" / "version_0"
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["trainer"].update(logger=[calls, imports, config["trainer"]["logger"]], callbacks=[calls, imports])
    config["trainer"]["profiler"] = imports
    config["model"].update(optimizer=calls, scheduler=imports)
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    for checkpoint in run.glob("checkpoints/*.ckpt"):
        saved = torch.load(checkpoint, weights_only=True)
        saved["hyper_parameters"].update(optimizer=calls, scheduler=imports)
        torch.save(saved, checkpoint)
    monkeypatch.chdir(importable)
    {
        "test": lambda: test_command.main([]),
        "predict": lambda: main(["--indices", "0"]),
        "export": lambda: export.main([]),
    }[command]()
    assert not touched.exists() and not (importable / "IMPORTED").exists() and "sideeffect" not in sys.modules
