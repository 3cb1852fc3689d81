"""``python -m lit_rnn.serve``: serve a trained model over HTTP, a page to draw digits on and a JSON API, on LitServe.

It serves until Ctrl-C or SIGTERM, then answers the requests it holds and ends with one line (exit 130 or 143).
"""

if __name__ == "__main__":  # before the imports below, which take seconds: a signal at any moment ends cleanly
    from lit_rnn.base.command_start import start_command

    start_command()

import argparse
import math
import os
import reprlib
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
REQUEST_TIMEOUT = 30.0  # seconds a request may take, its wait for a batch included (LitServe's default)
MAX_WORKERS = 4 * (os.cpu_count() or 1)  # more only wait for each other, each holding its model in memory
MIN_PAYLOAD_MB, MAX_PAYLOAD_MB = 0.01, 1024.0  # 10 KB holds JSON pixels; each body is held whole in memory


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
    parser.add_argument("--port", type=_number(int, 1024, 65535), default=8000, help="The port (default 8000).")
    parser.add_argument(
        "--max_batch_size",
        type=_number(int, 1),
        default=16,
        help="The most requests answered by one call of the network (default 16; 1: no batching).",
    )
    parser.add_argument(
        "--batch_timeout",
        type=_number(float, 0, REQUEST_TIMEOUT, below_high=True),
        default=0.002,
        help=f"Seconds a worker waits for a batch to fill (default 0.002; less than the {REQUEST_TIMEOUT:g} s a "
        "request may take in all).",
    )
    parser.add_argument(
        "--workers",
        type=_number(int, 1, MAX_WORKERS),
        default=1,
        help=f"Worker processes running the model, each with its HTTP process (default 1, at most {MAX_WORKERS}: "
        "4 per core).",
    )
    parser.add_argument(
        "--max_payload_mb",
        type=_number(float, MIN_PAYLOAD_MB, MAX_PAYLOAD_MB),
        default=4.0,
        help=f"The largest request body, in MB (default 4; {MIN_PAYLOAD_MB:g} to {MAX_PAYLOAD_MB:g}).",
    )
    parser.add_argument(
        "--api_key",
        default=None,
        help=f"A key every request but the page and /health must carry in X-API-Key, compared with its UTF-8 bytes "
        f"(default: ${KEY_VARIABLE}, else none).",
    )
    return parser


def _number(kind: type, low: float, high: float = math.inf, below_high: bool = False) -> Callable[[str], Any]:
    """An argparse type: a number of ``kind`` from ``low`` to ``high`` (or below it), finite, not NaN."""
    span = f"below {high:g}" if below_high else f"at most {high:g}"
    expected = f"a {'whole number' if kind is int else 'number'} of at least {low:g}" + (
        f" and {span}" if math.isfinite(high) else ""
    )

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:  # not a number, or a whole number of more digits than Python converts
            value = None
        if value is None or not (low <= value < high if below_high else low <= value <= high):  # NaN fails both
            raise argparse.ArgumentTypeError(f"{reprlib.repr(text)} is not {expected}")
        return value

    return parse


def _api_key(given: str | None) -> str | None:
    """The key from --api_key, else $LIT_RNN_API_KEY; refused in one line if no client could send it."""
    if given is None and KEY_VARIABLE in os.environ:
        given, origin = os.environ[KEY_VARIABLE], f"${KEY_VARIABLE}"
        if not given:  # set but empty, as by KEY_VARIABLE=$UNSET_VARIABLE: serving with no key would surprise
            raise UserError(
                f"{origin} is set but empty: give it the key, or unset it (unset {KEY_VARIABLE}) to serve with no key."
            )
    else:
        origin = "--api_key"
    if given is None:
        return None
    if not given or given != given.strip() or not all(char.isprintable() for char in given):
        raise UserError(
            f"{origin} is {reprlib.repr(given)}: a key is one or more printable characters with no space at either end (an HTTP "
            "header cannot carry the rest)."
        )
    return given


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
    api_key = _api_key(options.api_key)
    _check_free(options.host, options.port)
    trained = load_network(find_checkpoint(options.ckpt_path), options.allow_module)

    from lit_rnn.serving.server import build_server  # LitServe and FastAPI: a second of imports, after the checks

    server = build_server(
        trained,
        options.max_batch_size,
        options.batch_timeout,
        options.workers,
        int(options.max_payload_mb * 2**20),
        api_key,
        REQUEST_TIMEOUT,
    )
    shown = f"[{options.host}]" if ":" in options.host else options.host
    address = f"http://{'127.0.0.1' if options.host == '0.0.0.0' else shown}:{options.port}"
    print(f"Checkpoint: {trained.path}")
    print(f"The page: {address}/   The API: POST {address}/predict (described at {address}/docs)", flush=True)
    server.run(host=options.host, port=options.port, log_level="warning", generate_client_file=False)
    signum = server.stopped_by
    if signum is None:  # LitServe stops by itself only when a worker process dies
        raise UserError("The model's worker process ended unexpectedly, and the server with it: see the lines above.")
    interrupts.stop(signum, "after answering the requests it held; nothing was written.")


if __name__ == "__main__":
    run_then_exit(main)
