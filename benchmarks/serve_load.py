"""The server under load: N concurrent clients (locust, headless) post MNIST test images for T seconds to each of
three servers of the same checkpoint, and the figures are bounded by two limits measured in the same run.

Usage: python benchmarks/serve_load.py [--data-dir ../shared/data] [--clients 64] [--seconds 20] [--ckpt-path best]

Run it where ``lightning_logs/`` is (after ``make fit``). The servers, one after another on a free port:
``litserve-batched`` (``python -m lit_rnn.serve``, dynamic batching), ``litserve-unbatched`` (``--max_batch_size 1``)
and ``plain`` (the endpoint a user would write: FastAPI on uvicorn, one model call per request). The limits: ``model``
(the network's batched throughput in a plain loop, images per second, doing what ``/predict`` does) and ``http`` (the
same FastAPI and uvicorn answering an endpoint that does no work, with an answer as long as a real one, so that the
clients, on the same cores, do the same work for it). For each: requests per second, the latency's
p50/p95/p99, the failures, the accuracy of the answers, which must be the model's own digit for every image, and the
CPU time the server's processes used per request (on shared cores, the figure least moved by what else runs).
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # this checkout's lit_rnn, wherever the script is run from

from lit_rnn.data.datamodule import load_images
from lit_rnn.serving.digit_api import answer_bodies, read_digits
from lit_rnn.trained.loading import find_checkpoint, load_network

DEFAULT_DATA_DIR = REPO.parent / "shared" / "data"
SERVERS = ("litserve-batched", "litserve-unbatched", "plain")


def plain_app(checkpoint: str):  # noqa: ANN201
    """The endpoint a user would write: FastAPI validates the pixels, one model call per request."""
    from fastapi import FastAPI
    from pydantic import BaseModel

    trained = load_network(Path(checkpoint))
    network, names = trained.network, trained.dataset.class_names
    app = FastAPI()

    class Pixels(BaseModel):
        pixels: list[list[float]]

    @app.post("/predict")
    def predict(body: Pixels) -> dict:
        return read_digits(network, torch.tensor(body.pixels)[None], True, names)[0]

    return app


def noop_app(checkpoint: str):  # noqa: ANN201
    """The HTTP stack alone: the body read, and one answer made beforehand answered every time."""
    from fastapi import FastAPI, Request, Response

    trained = load_network(Path(checkpoint))
    answer = answer_bodies(trained.network, torch.zeros(1, 28, 28), True, trained.dataset.class_names)[0]
    app = FastAPI()

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        await request.body()
        return Response(answer, media_type="application/json")

    return app


def model_limit(
    network: torch.nn.Module, names: list[str], images: torch.Tensor, batch: int, seconds: float = 5
) -> float:
    """Images per second through ``answer_bodies`` (the network and the answers' JSON) in batches of ``batch``, in a
    plain loop on one thread, as the server's worker runs it."""
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        first = done % (len(images) - batch + 1)
        answer_bodies(network, images[first : first + batch], True, names)
        done += batch
    return done / (time.perf_counter() - start)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(server: str, port: int, checkpoint: Path, log: Path) -> subprocess.Popen:
    """The server, its output in ``log``: its normal SIGTERM line would read as an error in the table's output."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if server.startswith("litserve"):
        batching = ["--max_batch_size", "64", "--batch_timeout", "0.005"] if server == "litserve-batched" else []
        command = ["-m", "lit_rnn.serve", "--ckpt_path", str(checkpoint), "--port", str(port), *batching]
    else:
        command = [__file__, "--serve", server, "--port", str(port), "--ckpt-path", str(checkpoint)]
    with open(log, "w") as output:
        process = subprocess.Popen(
            [sys.executable, *command], env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    import httpx

    for _ in range(1200):
        try:
            httpx.post(f"http://127.0.0.1:{port}/predict", json={"pixels": [[0.0] * 28] * 28}, timeout=5)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"{server} did not start: {log.read_text()[-2000:]}")


def load(url: str, clients: int, seconds: int, images: Path, folder: Path) -> dict:
    """Locust's figures for ``clients`` posting for ``seconds``, and the answers' (image, digit) pairs."""
    answers = folder / "answers.json"
    env = {**os.environ, "SERVE_LOAD_IMAGES": str(images), "SERVE_LOAD_ANSWERS": str(answers)}
    subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(REPO / "benchmarks" / "serve_locustfile.py"), "--headless",
         "--users", str(clients), "--spawn-rate", str(clients), "--run-time", f"{seconds}s", "--host", url,
         "--csv", str(folder / "load"), "--only-summary", "--loglevel", "ERROR"],
        env=env, check=False, stdout=subprocess.DEVNULL, stderr=open(folder / "locust.log", "w"),
    )  # fmt: skip
    import csv

    with open(folder / "load_stats.csv") as file:
        total = next(row for row in csv.DictReader(file) if row["Name"] == "Aggregated")
    if total["50%"] == "N/A":
        raise SystemExit(f"locust made no request: {(folder / 'locust.log').read_text()[-2000:]}")
    return {
        "requests": int(total["Request Count"]),
        "rps": float(total["Requests/s"]),
        "p50": float(total["50%"]),
        "p95": float(total["95%"]),
        "p99": float(total["99%"]),
        "failures": int(total["Failure Count"]),
        "answers": json.loads(answers.read_text()) if answers.exists() else [],
    }


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    options.add_argument("--ckpt-path", default="best")
    options.add_argument("--clients", type=int, default=64)
    options.add_argument("--seconds", type=int, default=20)
    options.add_argument("--images", type=int, default=2_000, help="The first N test images are posted.")
    options.add_argument("--servers", nargs="*", default=list(SERVERS), choices=SERVERS)
    options.add_argument("--serve", choices=["plain", "http"], help=argparse.SUPPRESS)  # a server of this benchmark
    options.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = options.parse_args()
    checkpoint = find_checkpoint(args.ckpt_path)
    if args.serve:
        import uvicorn

        app = plain_app(str(checkpoint)) if args.serve == "plain" else noop_app(str(checkpoint))
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
        return
    trained = load_network(checkpoint)
    network, names = trained.network, list(trained.dataset.class_names)
    torch.set_num_threads(1)
    images, labels = load_images(args.data_dir, train=False)
    pixels, labels = images[: args.images], labels[: args.images]
    images = pixels.float() / 255
    with torch.inference_mode():
        own = network(images).argmax(dim=1)  # the model's own digits, as lit_rnn.test computes them
    print(f"Checkpoint: {checkpoint}; {len(images):,} MNIST test images, {args.clients} clients, {args.seconds} s each")
    print(f"CPU: {_cpu()}, {os.cpu_count()} cores; torch {torch.__version__}, {torch.get_num_threads()} threads")
    rows = [
        (f"model (plain loop, {shown})", f"{model_limit(network, names, images, batch):,.0f} images/s", *[""] * 5)
        for batch, shown in ((64, "batches of 64"), (1, "one at a time"))
    ]
    with tempfile.TemporaryDirectory() as folder:
        payload = Path(folder) / "images.json"
        payload.write_text(json.dumps(pixels.tolist()))  # 0-255: the clients post each divided by 255
        for server in ["http", *args.servers]:
            port = free_port()
            log = Path(folder) / f"{server}.log"
            process = start(server, port, checkpoint, log)
            try:
                used = _cpu_seconds(process.pid)
                figures = load(f"http://127.0.0.1:{port}", args.clients, args.seconds, payload, Path(folder))
                used = _cpu_seconds(process.pid) - used
            finally:
                process.terminate()
                if process.wait() not in (0, 143, -signal.SIGTERM):  # 143: lit_rnn.serve's own stop on SIGTERM
                    print(f"{server} ended with {process.returncode}: {log.read_text()[-2000:]}", file=sys.stderr)
            answered = figures["answers"] if server != "http" else []  # the same answer for every image
            agree = sum(own[index].item() == digit for index, digit in answered)
            right = sum(labels[index].item() == digit for index, digit in answered)
            accuracy = f"{right / len(answered):.4f} (model's own digit: {agree}/{len(answered)})" if answered else ""
            name = "http (no work: the HTTP stack's limit)" if server == "http" else server
            rows.append((name, f"{figures['rps']:,.0f} requests/s", f"{figures['p50']:.0f}", f"{figures['p95']:.0f}",
                         f"{figures['p99']:.0f}", f"{figures['failures']} of {figures['requests']:,}; {accuracy}",
                         f"{1000 * used / max(figures['requests'], 1):.2f}"))  # fmt: skip
    print(
        "| run | throughput | p50 ms | p95 ms | p99 ms | failures; accuracy of the answers | server CPU ms a request |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"Model accuracy on these images, in-process: {(own == labels).float().mean().item():.4f}")


def _cpu_seconds(pid: int) -> float:
    """The CPU time the server's processes have used: on cores shared with the clients (and anything else), its
    work per request is the figure that depends least on what else runs."""
    import psutil

    root = psutil.Process(pid)
    return sum(sum(process.cpu_times()[:2]) for process in [root, *root.children(recursive=True)])


def _cpu() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown"


if __name__ == "__main__":
    main()
