"""The model's side of the server: a LitServe ``LitAPI`` that LitServe runs in each of its worker processes, where
it batches the requests that arrive together (``--max_batch_size``, ``--batch_timeout``) into one call of the
network.

Each request reaches it already checked and made into an MNIST image by ``intake``: a worker does model work only.
"""

import json
import signal
from pathlib import Path
from typing import Any

import litserve
import torch
from starlette.responses import Response

from lit_rnn.trained.loading import load_network

DECIMALS = 4  # probabilities and pixels, rounded for reading: the JSON is a quarter the size of full floats


class DigitAPI(litserve.LitAPI):
    """Reads digits with the network of ``checkpoint``, rebuilt as predict rebuilds it (``load_network``).

    Args:
        checkpoint: The checkpoint file; each worker loads it itself, since LitServe starts them as new processes.
        max_batch_size: The most requests answered by one call of the network (1: one call per request).
        batch_timeout: How long, in seconds, a worker waits for a batch to fill before it answers what it holds.
    """

    def __init__(self, checkpoint: Path, max_batch_size: int = 1, batch_timeout: float = 0.0) -> None:
        super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout, api_path="/predict")
        self.checkpoint = checkpoint

    def setup(self, device: str) -> None:
        # Ctrl-C reaches every process of the terminal's group: the server ends its workers itself, once the HTTP
        # processes have answered the requests they hold, which the workers compute.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # One thread: the HTTP process needs a core too, and a small LSTM's batch is quicker on one thread than on
        # two that wait for each other (measured: 5 ms against 26 ms for 64 images, two busy cores).
        torch.set_num_threads(1)
        self.network = load_network(self.checkpoint).network
        self.by_row = not self.network.rnn.bidirectional

    def decode_request(self, request: dict[str, Any]) -> torch.Tensor:
        return torch.tensor(request["image"], dtype=torch.float32)

    def batch(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(inputs)

    def predict(self, images: torch.Tensor) -> list[dict[str, Any]] | dict[str, Any]:
        """The answers for a batch ``(N, 28, 28)``, or for one image ``(28, 28)`` when LitServe does not batch."""
        answers = read_digits(self.network, images if images.dim() == 3 else images[None], self.by_row)
        return answers if images.dim() == 3 else answers[0]

    def unbatch(self, answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return answers

    def encode_response(self, answer: dict[str, Any]) -> Response:
        # JSON made here, in C: handed a dict, FastAPI's encoder walks its thousand numbers one by one in the HTTP
        # process, which every request passes through (measured: a fifth of the throughput).
        return Response(json.dumps(answer, allow_nan=False), media_type="application/json")


def read_digits(network: torch.nn.Module, images: torch.Tensor, by_row: bool) -> list[dict[str, Any]]:
    """``/predict``'s answer for each image: the digit, the probabilities, the image and the opinion row by row."""
    with torch.inference_mode():
        if by_row:
            rows = network.logits_by_row(images).softmax(dim=2)
            final = rows[:, -1]
        else:
            rows, final = None, network(images).softmax(dim=1)
    best, digits = final.max(dim=1)
    by_row = [None] * len(images) if rows is None else _rounded(rows)  # one conversion per batch: 10x quicker
    return [
        {
            "digit": digit,
            "probability": probabilities[digit],
            "probabilities": probabilities,
            "image": image,
            "probabilities_by_row": row,
        }  # fmt: skip
        for digit, probabilities, image, row in zip(digits.tolist(), _rounded(final), _rounded(images), by_row)
    ]


def _rounded(values: torch.Tensor) -> list:
    return values.double().round(decimals=DECIMALS).tolist()
