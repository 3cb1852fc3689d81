"""The LitServe server of a trained model: LitServe's ``/predict`` (with its batching and workers), ``/health`` and
``/info``, behind ``intake``; the page at ``/``; and an API description at ``/docs`` that names every field.
"""

import asyncio
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

import litserve
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from litserve.transport.process_transport import MPQueueTransport
from pydantic import BaseModel, Field
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware

from lit_rnn.base import interrupts
from lit_rnn.base.errors import ConfigError
from lit_rnn.runs import results
from lit_rnn.serving.digit_api import DigitAPI
from lit_rnn.serving.intake import Intake
from lit_rnn.trained.loading import TrainedNetwork

Row = list[float]
GZIP_LEVEL = 1  # LitServe compresses answers at gzip's default, 9: 20 times the work of 1, for answers a fifth smaller


class Pixels(BaseModel):
    """An MNIST image given as numbers: light digit on black, as ``image`` in the answer."""

    pixels: list[Row] = Field(description="28 rows of 28 numbers in [0, 1], top row first; 0 is black.")


class Prediction(BaseModel):
    """The model's answer for one digit."""

    digit: int = Field(description="The class the model reads, by number: the digit, for MNIST.")
    class_name: str = Field(description="Its name in the dataset: '7' for MNIST, 'Sneaker' for Fashion-MNIST.")
    probability: float = Field(description="Its probability, the largest of `probabilities`.")
    probabilities: list[float] = Field(description="The probability of each class, by number; they sum to 1.")
    image: list[Row] = Field(
        description="The 28x28 MNIST image the model saw, numbers in [0, 1]: a picture made into an MNIST image as "
        "MNIST's were made (lit_rnn/data/digits.py), or the pixels as given."
    )
    probabilities_by_row: list[Row] | None = Field(
        description="28 rows of a probability per class: the head applied to the state after reading rows 0 to r, the "
        "model's opinion as it reads; the last row is `probabilities`. A network reading several rows a step changes "
        "it at each step's last row; rows it crops hold its opinion before reading, at the top, and its answer, at the "
        "bottom. null for a network that does not read the rows in order (a bidirectional one, a CNN, a Transformer "
        "without its causal mask): /info says why."
    )


class Problem(BaseModel):
    """A request refused, and why."""

    detail: str = Field(description="One sentence saying what was wrong.")


def build_server(
    trained: TrainedNetwork,
    max_batch_size: int,
    batch_timeout: float,
    workers: int,
    max_payload: int,
    api_key: str | None,
) -> litserve.LitServer:
    api, metadata = DigitAPI(trained.path, trained.allowed_modules, max_batch_size, batch_timeout), info(trained)
    server = DrainingServer(
        api,
        accelerator="cpu",  # a 28-step LSTM over a few images is quicker on the CPU than their round trip to a GPU
        workers_per_device=workers,
        model_metadata=metadata,
        fast_queue=False,  # LitServe 0.2.19 ignores it (#751); once fixed, held requests lose their answers at SIGTERM
        middlewares=[(Intake, {"api_key": api_key, "max_payload": max_payload})],
    )
    app = server.app
    routes = {getattr(route, "path", None): route for route in app.router.routes}
    # "/" says "litserve running"; "/predict" is answered by Intake, which hands its requests to LitServe's handler.
    app.router.routes = [route for route in app.router.routes if route not in (routes["/"], routes["/predict"])]
    app.user_middleware = [
        Middleware(GZipMiddleware, *entry.args, **{**entry.kwargs, "compresslevel": GZIP_LEVEL})
        if entry.cls is GZipMiddleware
        else Middleware(Intake, *entry.args, **entry.kwargs, predict=routes["/predict"].endpoint)
        if entry.cls is Intake
        else entry
        for entry in app.user_middleware
    ]  # built into the app when it first answers, in each HTTP process
    page = resources.files("lit_rnn.serving").joinpath("page/index.html").read_text()
    app.add_api_route("/", lambda: HTMLResponse(page), methods=["GET"], include_in_schema=False)
    app.title = "lit_rnn"
    app.description = f"A {metadata['network']} trained on {trained.dataset.title} says what a 28x28 picture shows."
    app.openapi = _described(app, app.openapi)
    return server


def info(trained: TrainedNetwork) -> dict[str, Any]:
    """What ``/info`` says of the model: its checkpoint, its run, its settings and the run's test accuracy."""
    run = trained.run
    try:
        metrics = (results.read(run) or {}).get("metrics", {}) if run else {}
    except ConfigError:  # a results file fit did not write: the model is still served, its accuracy unknown
        metrics = {}
    return {
        "checkpoint": str(trained.path),
        "run": None if run is None else str(run),
        "settings": trained.settings,
        "network": type(trained.model.network).__name__,
        "dataset": trained.dataset.title,
        "class_names": list(trained.dataset.class_names),
        "test_accuracy": metrics.get("test/acc"),
        "probabilities_by_row": trained.network.no_opinion_by_row is None,
        "no_probabilities_by_row": trained.network.no_opinion_by_row,
    }


def _described(app: FastAPI, generate: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """FastAPI's description, with what ``/predict`` takes and answers: LitServe's route takes a bare Request."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (Pixels, Prediction, Problem):
            components[model.__name__] = model.model_json_schema(ref_template="#/components/schemas/{model}")
        ref = {
            name: {"schema": {"$ref": f"#/components/schemas/{name}"}} for name in ("Pixels", "Prediction", "Problem")
        }
        binary = {"schema": {"type": "string", "format": "binary"}}
        problem = {
            "description": "Refused: `detail` says why in one sentence.",
            "content": {"application/json": ref["Problem"]},
        }
        schema.setdefault("paths", {})["/predict"] = {
            "post": {
                "summary": "Read the digit in a picture, or in 28x28 pixels",
                "description": "A picture (PNG, JPEG, anything Pillow reads; a dark digit on light paper, light on dark, "
                "or on a transparent background) as the raw body or as a multipart file, or JSON pixels.",
                "requestBody": {
                    "required": True,
                    "content": {
                        "image/*": binary,
                        "multipart/form-data": {
                            "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
                        },
                        "application/json": ref["Pixels"],
                    },
                },
                "responses": {
                    "200": {"description": "The digit read.", "content": {"application/json": ref["Prediction"]}},
                    **{str(status): problem for status in (400, 401, 405, 413, 415, 422)},
                },
            }
        }
        app.openapi_schema = schema
        return schema

    return openapi


class DrainingServer(litserve.LitServer):
    """A LitServer that stops on SIGINT or SIGTERM (``interrupts``) only after answering the requests it holds.

    LitServe's own shutdown closes the workers' queues before the HTTP processes: requests in flight would get no
    answer. Here the HTTP processes stop first, uvicorn's way: they accept nothing more and answer what they hold.

    And the requests and answers go straight between the HTTP processes and the workers, where LitServe passes them
    through its multiprocessing manager, a third process (``_init_manager``).
    """

    def run(self, *args: Any, **kwargs: Any) -> None:
        interrupts.set_phase("", announce=False)
        interrupts.defer()  # a signal is recorded; the thread below wakes the server's wait for it
        threading.Thread(target=self._stop_when_asked, daemon=True).start()
        super().run(*args, **kwargs)

    def _stop_when_asked(self) -> None:
        while interrupts.requested() is None or self._shutdown_event is None:
            time.sleep(0.05)
        self._shutdown_event.set()

    def _init_manager(self, num_api_servers: int) -> Any:
        """LitServe's queues, as pipes: multiprocessing queues that the HTTP processes (forked) and the workers
        (spawned) inherit, not its manager's, through which every request made three round trips (the request put,
        taken, and its answer), the HTTP process waiting for the first (measured under load: 1.8 ms of the manager's
        CPU a request)."""
        manager = super()._init_manager(num_api_servers)
        pipe = multiprocessing.get_context("spawn").Queue
        for path in self.litapi_request_queues:
            self.litapi_request_queues[path] = pipe()
        self._transport = LoopQueueTransport(manager, [pipe() for _ in range(num_api_servers)])
        return manager

    def _perform_graceful_shutdown(self, manager: Any, uvicorn_workers: dict, shutdown_reason: str = "normal") -> None:
        for process in uvicorn_workers.values():
            process.terminate()  # SIGTERM: uvicorn closes its socket and finishes the requests in flight
        for process in uvicorn_workers.values():
            process.join(timeout=self.uvicorn_graceful_timeout)
        super()._perform_graceful_shutdown(manager, {}, shutdown_reason)


class LoopQueueTransport(MPQueueTransport):
    """LitServe's transport of answers over multiprocessing queues, received in the HTTP process's event loop.

    LitServe's waits for each answer in a thread of its own (``asyncio.to_thread``): a thread's round trip per
    request, in the process every request passes through (measured under load: 469 requests/s with it, 713 without).
    Here the loop watches each queue's pipe for as long as it runs, and moves every answer that has arrived into a
    queue of its own, where ``areceive`` takes it.
    """

    def __init__(self, manager: Any, queues: list[Any]) -> None:
        super().__init__(manager, queues)
        self._arrived: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = {}

    async def areceive(self, consumer_id: int, timeout: float | None = None, block: bool = True) -> Any:
        if self._closed:
            raise asyncio.CancelledError("Transport closed")
        arrived = self._watched(consumer_id)
        if not arrived.empty():
            return arrived.get_nowait()
        try:
            return await asyncio.wait_for(arrived.get(), 1 if timeout is None else min(timeout, 1))
        except TimeoutError:
            return None  # as LitServe's: its reader asks again, and sees the transport closed

    def _watched(self, consumer_id: int) -> asyncio.Queue:
        """The answers that have arrived for this consumer, watched by the running loop from its first call on."""
        loop = asyncio.get_running_loop()
        watched = self._arrived.get(consumer_id)
        if watched is None or watched[0] is not loop:
            answers, arrived = self._queues[consumer_id], asyncio.Queue()
            pipe = answers._reader.fileno()  # the queue's end of its pipe: readable once an answer is there
            loop.add_reader(pipe, _take_all, answers, arrived)
            # uvloop (uvicorn's loop) makes a watched pipe non-blocking, and the queue's reads assume it blocks: an
            # answer that had half arrived raised BlockingIOError, which ended LitServe's reader, and every request
            # after it waited forever. The loop only asks whether the pipe is readable, which blocking leaves alone.
            os.set_blocking(pipe, True)
            self._arrived[consumer_id] = watched = (loop, arrived)
        return watched[1]


def _take_all(answers: Any, arrived: asyncio.Queue) -> None:
    """Move every whole answer in the pipe to the loop's queue (one still arriving is waited for: it is on its way)."""
    try:
        while True:
            arrived.put_nowait(answers.get(block=False))
    except queue.Empty:
        pass
