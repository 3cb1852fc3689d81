"""The model's side of the server: a LitServe ``LitAPI`` that LitServe runs in each of its worker processes, where
it batches the requests that arrive together (``--max_batch_size``, ``--batch_timeout``) into one call of the
network.

Each request reaches it already checked and made into an MNIST image by ``intake``: a worker does model work only,
and writes each answer's JSON itself (``answer_bodies``), since the HTTP process every request passes through should
not.
"""

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import litserve
import torch
from starlette.responses import Response

from lit_rnn.serving import intake
from lit_rnn.trained.loading import load_network

DECIMALS = 4  # probabilities and pixels, rounded for reading: the JSON is a quarter the size of full floats
STEPS = 10**DECIMALS
# Every number of an answer is in [0, 1]: rounded, it is one of these 10,001, each written once, as json writes it.
NUMBER_TEXT = [repr(step / STEPS) for step in range(STEPS + 1)]


class DigitAPI(litserve.LitAPI):
    """Reads digits with the network of ``checkpoint``, rebuilt as predict rebuilds it (``load_network``).

    Args:
        checkpoint: The checkpoint file; each worker loads it itself, since LitServe starts them as new processes.
        allowed_modules: The user's modules its network may come from (``load_network``).
        max_batch_size: The most requests answered by one call of the network (1: one call per request).
        batch_timeout: How long, in seconds, a worker waits for a batch to fill before it answers what it holds.
    """

    def __init__(
        self,
        checkpoint: Path,
        allowed_modules: tuple[str, ...] = (),
        max_batch_size: int = 1,
        batch_timeout: float = 0.0,
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout, api_path="/predict")
        self.checkpoint, self.allowed_modules = checkpoint, allowed_modules

    def setup(self, device: str) -> None:
        # One thread: the HTTP process needs a core too, and a small LSTM's batch is quicker on one thread than on
        # two that wait for each other (measured: 5 ms against 26 ms for 64 images, two busy cores).
        torch.set_num_threads(1)
        trained = load_network(self.checkpoint, self.allowed_modules)
        self.network, self.class_names = trained.network, trained.dataset.class_names
        self.by_row = self.network.no_opinion_by_row is None

    def decode_request(self, request: dict[str, Any]) -> torch.Tensor:
        return intake.image_of(request)

    def batch(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(inputs)

    def predict(self, images: torch.Tensor) -> list[bytes] | bytes:
        """The answers' JSON for a batch ``(N, 28, 28)``, or for one image ``(28, 28)`` when LitServe does not
        batch."""
        answers = answer_bodies(
            self.network, images if images.dim() == 3 else images[None], self.by_row, self.class_names
        )
        return answers if images.dim() == 3 else answers[0]

    def unbatch(self, answers: list[bytes]) -> list[bytes]:
        return answers

    def encode_response(self, answer: bytes) -> Response:
        # The JSON is made in this worker: handed a dict, FastAPI's encoder walks its thousand numbers one by one in
        # the HTTP process, which every request passes through (measured: a fifth of the throughput).
        return Response(answer, media_type="application/json")


def read_digits(
    network: torch.nn.Module, images: torch.Tensor, by_row: bool, class_names: Sequence[str]
) -> list[dict[str, Any]]:
    """``/predict``'s answer for each image: the class (the digit, for MNIST) and its name, the probabilities, the image
    and the opinion row by row."""
    final, rows = _opinions(network, images, by_row)
    digits = final.argmax(dim=1)
    by_row = [None] * len(images) if rows is None else _rounded(rows)  # one conversion per batch: 10x quicker
    return [
        {
            "digit": digit,
            "class_name": class_names[digit],
            "probability": probabilities[digit],
            "probabilities": probabilities,
            "image": image,
            "probabilities_by_row": row,
        }  # fmt: skip
        for digit, probabilities, image, row in zip(digits.tolist(), _rounded(final), _rounded(images), by_row)
    ]


def answer_bodies(
    network: torch.nn.Module, images: torch.Tensor, by_row: bool, class_names: Sequence[str]
) -> list[bytes]:
    """``read_digits``'s answers as the very JSON ``json.dumps`` writes of them, ten times quicker: each number is
    rounded to a step of 0.0001 and written from ``NUMBER_TEXT``, not by formatting a float.

    Raises:
        ValueError: if a number is not finite (a network with NaN weights), as ``json.dumps(allow_nan=False)`` does.
    """
    final, rows = _opinions(network, images, by_row)
    digits = final.argmax(dim=1).tolist()
    finals, pictures = _steps(final), _steps(images)
    by_rows = [None] * len(images) if rows is None else _steps(rows)
    bodies, names = [], [json.dumps(name) for name in class_names]
    for digit, probabilities, picture, row in zip(digits, finals, pictures, by_rows):
        listed = _listed(probabilities)
        opinion = "null" if row is None else f"[{', '.join(map(_listed, row))}]"
        bodies.append(
            f'{{"digit": {digit}, "class_name": {names[digit]}, "probability": {NUMBER_TEXT[probabilities[digit]]}, '
            f'"probabilities": {listed}, '
            f'"image": [{", ".join(map(_listed, picture))}], "probabilities_by_row": {opinion}}}'.encode()
        )
    return bodies


def _opinions(network: torch.nn.Module, images: torch.Tensor, by_row: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The probabilities ``(N, 10)`` after the last row, and after each row ``(N, 28, 10)`` (None if not ``by_row``)."""
    with torch.inference_mode():
        if by_row:
            rows = network.logits_by_row(images).softmax(dim=2)
            return rows[:, -1], rows
        return network(images).softmax(dim=1), None


def _rounded(values: torch.Tensor) -> list:
    return values.double().round(decimals=DECIMALS).tolist()


def _steps(values: torch.Tensor) -> list:
    """``values`` in [0, 1] as whole steps of ``1 / STEPS``, rounded as ``_rounded`` rounds them: indices of
    ``NUMBER_TEXT``."""
    if not torch.isfinite(values).all():
        raise ValueError("Out of range float values are not JSON compliant: the network's answer holds a NaN.")
    return (values.double() * STEPS).round().long().clamp(0, STEPS).tolist()


def _listed(steps: list[int]) -> str:
    return f"[{', '.join(map(NUMBER_TEXT.__getitem__, steps))}]"
