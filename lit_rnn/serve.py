"""``python -m lit_rnn.serve``: serve a trained model over HTTP, a page to draw digits on and a JSON API, on LitServe.

It serves until Ctrl-C or SIGTERM, then answers the requests it holds and ends with one line (exit 130 or 143).
"""

if __name__ == "__main__":  # before the imports below, which take seconds: a signal at any moment ends cleanly
    from lit_rnn.base import interrupts

    interrupts.install()

import argparse
import os
import socket
from collections.abc import Callable
from typing import Any

from lit_rnn.base import interrupts
from lit_rnn.base.errors import UserError, exits_cleanly_on_user_error
from lit_rnn.base.quick_exit import run_then_exit
from lit_rnn.trained.command_line import trained_model_command
from lit_rnn.trained.loading import find_checkpoint, load_network

KEY_VARIABLE = "LIT_RNN_API_KEY"
HOSTS = ("127.0.0.1", "0.0.0.0", "::")  # the addresses LitServe binds to


def parser() -> argparse.ArgumentParser:
    parser = trained_model_command(
        "serve",
        "Serve a model that python -m lit_rnn.fit trained: a page to draw digits on, and POST /predict for pictures "
        "or pixels, with LitServe's dynamic batching.",
        None,
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help=f"The address to listen on, one of {', '.join(HOSTS)} (default 127.0.0.1: this machine only).",
    )
    parser.add_argument("--port", type=int, default=8000, help="The port (default 8000).")
    parser.add_argument(
        "--max_batch_size",
        type=_positive(int),
        default=16,
        help="The most requests answered by one call of the network (default 16; 1: no batching).",
    )
    parser.add_argument(
        "--batch_timeout",
        type=_positive(float, zero=True),
        default=0.002,
        help="Seconds a worker waits for a batch to fill (default 0.002).",
    )
    parser.add_argument(
        "--workers",
        type=_positive(int),
        default=1,
        help="Worker processes running the model, each with its HTTP process (default 1).",
    )
    parser.add_argument(
        "--max_payload_mb", type=_positive(float), default=4.0, help="The largest request body, in MB (default 4)."
    )
    parser.add_argument(
        "--api_key",
        default=os.environ.get(KEY_VARIABLE),
        help=f"A key every request but the page and /health must carry in X-API-Key (default: "
        f"${KEY_VARIABLE}, else none).",
    )
    return parser


def _positive(kind: type, zero: bool = False) -> Callable[[str], Any]:
    """An argparse type: a number of ``kind`` above 0 (or at least 0), not NaN."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not (value >= 0 if zero else value > 0) or value != value:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a {'non-negative' if zero else 'positive'} {'whole number' if kind is int else 'number'}"
            )
        return value

    return parse


def _check_free(host: str, port: int) -> None:
    """Refuse a port in use in one line, before the model loads (uvicorn would log it and exit 1, later)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds it
        try:
            probe.bind((host, port))
        except OSError as error:
            raise UserError(f"Cannot listen on {host} port {port} ({error.strerror}): give another --port.") from None


@exits_cleanly_on_user_error
def main(args: list[str] | None = None) -> None:
    """Serve until a signal, then answer the requests held and stop with its line and exit code."""
    command_line = parser()
    options = command_line.parse_args(args)
    if options.host not in HOSTS:
        command_line.error(f"--host {options.host} is not one of {', '.join(HOSTS)}, the addresses LitServe binds to")
    if not 1024 <= options.port <= 65535:
        command_line.error(f"--port {options.port} is not between 1024 and 65535")
    _check_free(options.host, options.port)
    trained = load_network(find_checkpoint(options.ckpt_path), options.allow_module)

    from lit_rnn.serving.server import build_server  # LitServe and FastAPI: a second of imports, after the checks

    server = build_server(
        trained,
        options.max_batch_size,
        options.batch_timeout,
        options.workers,
        int(options.max_payload_mb * 2**20),
        options.api_key,
    )
    shown = f"[{options.host}]" if ":" in options.host else options.host
    address = f"http://{'127.0.0.1' if options.host == '0.0.0.0' else shown}:{options.port}"
    print(f"Checkpoint: {trained.path}")
    print(f"The page: {address}/   The API: POST {address}/predict (described at {address}/docs)", flush=True)
    server.run(host=options.host, port=options.port, log_level="warning", generate_client_file=False)
    signum = interrupts.requested()
    if signum is None:  # LitServe stops by itself only when a worker process dies
        raise UserError("The model's worker process ended unexpectedly, and the server with it: see the lines above.")
    interrupts.stop(signum, "after answering the requests it held; nothing was written.")


if __name__ == "__main__":
    run_then_exit(main)
