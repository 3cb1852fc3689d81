"""``python -m lit_rnn.export``: an ONNX file that ONNX Runtime runs as PyTorch runs the network, at any batch size,
written only once that is checked; without ONNX Runtime, one line saying how to install it."""

import shutil
import sys
from pathlib import Path

import onnxruntime
import pytest
import torch
from helpers.commands import reported_accuracy

from lit_rnn import export
from lit_rnn.data.datamodule import load_images
from lit_rnn.model.networks.recurrent import RecurrentNetwork
from lit_rnn.trained.loading import load_network

RUN = Path("lightning_logs") / "version_0"


@pytest.fixture(scope="module")
def exported(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny run whose best checkpoint the command exported (into the run, the default place)."""
    workdir = tmp_path_factory.mktemp("exported")
    shutil.copytree(tiny_run / "lightning_logs", workdir / "lightning_logs")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        export.main(["--ckpt_path", "best"])
    return workdir


def use_export_of(exported: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """Have the command export what the fixture's export gave, saving the exporter's seconds, and return it."""
    model = (exported / RUN / "model.onnx").read_bytes()
    monkeypatch.setattr(export, "to_onnx", lambda network: model)
    return model


def logits(session: onnxruntime.InferenceSession, images: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(session.run(["logits"], {"images": images.numpy()})[0])


def test_the_file_runs_in_onnx_runtime_as_the_network_runs_in_pytorch_at_any_batch_size(exported, tiny_mnist):
    model = exported / RUN / "model.onnx"  # the default place: the checkpoint's run folder
    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    (images_input,) = session.get_inputs()
    assert (
        images_input.name == "images" and images_input.shape[1:] == [28, 28] and isinstance(images_input.shape[0], str)
    )
    (best,) = (exported / RUN / "checkpoints").glob("best-*.ckpt")
    network = load_network(best).network
    images, _ = load_images(tiny_mnist, train=False)
    for batch in (images[:1], images[10:17]):
        pixels = batch.float() / 255
        with torch.inference_mode():
            expected = network(pixels)
        found = logits(session, pixels)
        assert found.shape == expected.shape == (len(batch), 10)
        assert torch.equal(found.argmax(dim=1), expected.argmax(dim=1))
        assert (found - expected).abs().max().item() <= export.TOLERANCE


def test_the_command_says_what_it_checked_and_where_it_wrote(exported, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(exported)
    model = use_export_of(exported, monkeypatch)
    output = tmp_path / "elsewhere" / "digits.onnx"
    agreement = export.main(["--output", str(output)])
    lines = capsys.readouterr().out.splitlines()
    assert agreement.images == agreement.same_digit == 200 and agreement.max_difference <= 1e-4
    assert lines[1] == (
        f"ONNX Runtime agrees with PyTorch on all 200 MNIST test images: the same class for every one (in "
        f"one batch, and the first alone), logits within {agreement.max_difference:.1e} of PyTorch's "
        "(tolerance 1e-04)."
    )
    assert lines[2].startswith(f"Exported to {output} ({output.stat().st_size / 1000:.1f} kB)")
    assert output.read_bytes() == model


def test_a_failed_check_writes_nothing_and_says_so_in_one_line(exported, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(exported)
    use_export_of(exported, monkeypatch)
    output = tmp_path / "model.onnx"
    output.write_bytes(b"an earlier export")
    with pytest.raises(SystemExit) as exit:
        export.main(["--output", str(output), "--tolerance", "1e-12"])  # float32 engines never agree that closely
    assert exit.value.code == 1
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert line.startswith(
        "error: The exported model disagrees with PyTorch in ONNX Runtime: on a batch of 200 test images, "
        "0 get another class and the logits differ by up to "
    )
    assert line.endswith("(tolerance 1e-12). Nothing was written; please report it.")
    assert captured.out == "" and output.read_bytes() == b"an earlier export"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.onnx"]  # no partial file left


def test_without_onnx_runtime_one_line_gives_the_pip_command(tiny_run, monkeypatch, capsys):
    monkeypatch.chdir(tiny_run)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now fails, as where it is not installed
    with pytest.raises(SystemExit) as exit:
        export.main([])
    assert exit.value.code == 2  # a usage error: the user installs what is missing
    assert capsys.readouterr().err.splitlines() == [
        "error: onnxruntime is not installed, and the export needs onnx, onnxscript, onnxruntime. Install them with: "
        "pip install onnx onnxscript onnxruntime (or pip install -e '.[export]' in the project's folder)."
    ]
    assert not (tiny_run / RUN / "model.onnx").exists()


@pytest.mark.slow
def test_on_the_real_test_set_onnx_runtime_reads_every_digit_as_pytorch(default_run, real_mnist, tmp_path):
    workdir, fit_output = default_run
    (best,) = (workdir / RUN / "checkpoints").glob("best-*.ckpt")
    agreement = export.main(["--ckpt_path", str(best), "--output", str(tmp_path / "model.onnx")])
    assert agreement.images == agreement.same_digit == 10_000 and agreement.max_difference <= export.TOLERANCE
    session = onnxruntime.InferenceSession(tmp_path / "model.onnx", providers=["CPUExecutionProvider"])
    images, labels = load_images(real_mnist, train=False)
    accuracy = (logits(session, images.float() / 255).argmax(dim=1) == labels).double().mean().item()
    assert f"{accuracy:.4f}" == f"{reported_accuracy(fit_output):.4f}"  # ONNX Runtime scores as fit's own test did


def test_a_network_reading_several_rows_a_step_exports_at_any_batch_size():
    torch.manual_seed(0)
    network = RecurrentNetwork(hidden_size=8, bidirectional=True, rows_per_step=2, crop_rows=4).eval()
    session = onnxruntime.InferenceSession(export.to_onnx(network), providers=["CPUExecutionProvider"])
    for batch in (1, 7):
        images = torch.rand(batch, 28, 28)
        with torch.inference_mode():
            expected = network(images)
        assert (logits(session, images) - expected).abs().max().item() <= export.TOLERANCE
