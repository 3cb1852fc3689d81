"""``python -m lit_rnn.export``: write a trained network as ONNX, to run without PyTorch (ONNX Runtime and others),
checked on the test set before it is written.

The network is exported behind the standardization it was trained with (``Standardized``): float images
``(batch, 28, 28)`` with pixels in [0, 1] in, each class's logit out, for any batch size. ONNX Runtime must give the
same class as PyTorch for every test image, in one batch of them all and in a batch of one, and logits within the
tolerance; otherwise nothing is written.
"""

if __name__ == "__main__":  # before the imports below, which take seconds: a signal at any moment ends cleanly
    from lit_rnn.base.command_start import start_command

    start_command()

import argparse
import importlib
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch
from torch import nn

from lit_rnn.base import interrupts
from lit_rnn.base.errors import UserError, exits_cleanly_on_user_error
from lit_rnn.base.quick_exit import run_then_exit
from lit_rnn.data.datamodule import load_images
from lit_rnn.runs.checkpointing import write_atomically
from lit_rnn.trained.command_line import trained_model_command
from lit_rnn.trained.loading import find_checkpoint, load_network

INPUT, OUTPUT = "images", "logits"
FILE_NAME = "model.onnx"
TOLERANCE = 1e-4
REQUIRED = ("onnx", "onnxscript", "onnxruntime")  # torch's ONNX exporter needs the first two; the check, the last


class ExportError(UserError):
    """The export cannot run as asked: a package missing, an output that cannot be written."""


class ExportDisagrees(ExportError):
    """ONNX Runtime's answers are not PyTorch's: nothing the user did, so not a usage error's exit code."""

    exit_code = 1


def tolerance(text: str) -> float:
    """A tolerance of logits: a finite number, 0 or more (NaN or a negative one would fail every check, as a bug)."""
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number, 0 or more, such as {TOLERANCE:.0e}")
    return value


@dataclass(frozen=True)
class Agreement:
    """How ONNX Runtime's answers compare with PyTorch's on a set of images."""

    images: int
    same_digit: int
    max_difference: float

    def holds(self, tolerance: float) -> bool:
        return self.same_digit == self.images and self.max_difference <= tolerance  # False for a NaN difference


def onnx_runtime() -> ModuleType:
    """ONNX Runtime, once the packages the export needs are known to be installed.

    Raises:
        ExportError: naming those missing and the pip command that installs them.
    """
    missing = []
    for name in REQUIRED:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ExportError(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed, and the export needs "
            f"{', '.join(REQUIRED)}. Install them with: pip install {' '.join(REQUIRED)} "
            "(or pip install -e '.[export]' in the project's folder)."
        )
    return importlib.import_module("onnxruntime")


def to_onnx(network: nn.Module) -> bytes:
    """The network as an ONNX model, its batch axis left free (traced on a batch of 2: a 1 would be fixed as 1)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes about PyTorch's own internals
        program = torch.onnx.export(
            network,
            (torch.zeros(2, 28, 28),),
            dynamo=True,
            verbose=False,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_shapes={INPUT: {0: torch.export.Dim("batch")}},
        )
    return program.model_proto.SerializeToString()


def compare(network: nn.Module, session: object, images: torch.Tensor) -> Agreement:
    """ONNX Runtime's logits for float ``images`` next to PyTorch's."""
    with torch.inference_mode():
        expected = network(images)
    found = torch.from_numpy(session.run([OUTPUT], {INPUT: images.numpy()})[0])
    same = (found.argmax(dim=1) == expected.argmax(dim=1)).sum().item()
    return Agreement(len(images), same, (found - expected).abs().max().item())


def check(network: nn.Module, model: bytes, images: torch.Tensor, tolerance: float) -> Agreement:
    """Run ``model`` in ONNX Runtime on all ``images`` in one batch and on the first alone, against PyTorch.

    Raises:
        ExportDisagrees: saying where the two disagree.
    """
    runtime = onnx_runtime()
    session = runtime.InferenceSession(model, providers=["CPUExecutionProvider"])
    whole, single = compare(network, session, images), compare(network, session, images[:1])
    for agreement in (whole, single):
        if not agreement.holds(tolerance):
            raise ExportDisagrees(
                f"The exported model disagrees with PyTorch in ONNX Runtime: on a batch of {agreement.images:,} test "
                f"images, {agreement.images - agreement.same_digit:,} get another class and the logits differ by up to "
                f"{agreement.max_difference:.1e} (tolerance {tolerance:.0e}). Nothing was written; please report it."
            )
    return whole


def parser() -> argparse.ArgumentParser:
    parser = trained_model_command(
        "export",
        "Write the network of a model that python -m lit_rnn.fit trained as an ONNX file, after checking "
        "that ONNX Runtime reads every test image of its dataset as PyTorch does.",
        "whose test images check the export",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"Where to write the ONNX file (default: {FILE_NAME} in the checkpoint's run folder).",
    )
    parser.add_argument(
        "--tolerance",
        type=tolerance,
        default=TOLERANCE,
        help=f"The largest difference allowed between ONNX Runtime's logits and PyTorch's (default: {TOLERANCE:.0e}).",
    )
    return parser


@exits_cleanly_on_user_error
def main(args: list[str] | None = None) -> Agreement:
    """Export, check, write; returns the agreement found on the test images."""
    options = parser().parse_args(args)
    onnx_runtime()  # before anything takes time: say at once what is missing
    trained = load_network(find_checkpoint(options.ckpt_path), options.allow_module)
    images, _ = load_images(options.data_dir or trained.data_dir or "data", False, trained.dataset)
    output = options.output or (trained.run or trained.path.parent) / FILE_NAME
    interrupts.set_phase(f"during the export of {trained.path}: nothing was written. Run the command again.")
    model = to_onnx(trained.network)
    agreement = check(trained.network, model, images.float() / 255, options.tolerance)
    try:
        write_atomically(output, lambda handle: handle.write(model))
    except OSError as error:
        raise ExportError(
            f"The ONNX file cannot be written to {output} ({error.strerror}). Give --output a path in a "
            "folder you can write."
        ) from None
    print(f"Checkpoint: {trained.path}")
    print(
        f"ONNX Runtime agrees with PyTorch on all {agreement.images:,} {trained.dataset.title} test images: the same "
        f"class for every one (in one batch, and the first alone), logits within {agreement.max_difference:.1e} of PyTorch's "
        f"(tolerance {options.tolerance:.0e})."
    )
    print(
        f"Exported to {output} ({output.stat().st_size / 1000:.1f} kB): float images (batch, 28, 28) in [0, 1] as "
        f"'{INPUT}', the {trained.model.num_classes} classes' logits as '{OUTPUT}'."
    )
    return agreement


if __name__ == "__main__":
    run_then_exit(main)
