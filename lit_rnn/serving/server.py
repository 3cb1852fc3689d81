"""The LitServe server of a trained model: LitServe's ``/predict`` (with its batching and workers), ``/health`` and
``/info``, behind ``intake``; the page at ``/``; and an API description at ``/docs`` that names every field.
"""

import asyncio
import contextlib
import logging
import multiprocessing
import os
import queue
import signal
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import litserve
from fastapi import FastAPI
from litserve.transport.base import MessageTransport
from pydantic import BaseModel, Field

from lit_rnn.base import interrupts
from lit_rnn.base.errors import ConfigError
from lit_rnn.runs import results
from lit_rnn.serving.digit_api import DigitAPI
from lit_rnn.serving.intake import Intake
from lit_rnn.trained.loading import TrainedNetwork

Row = list[float]


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
    request_timeout: float,
) -> litserve.LitServer:
    api, metadata = DigitAPI(trained.path, trained.allowed_modules, max_batch_size, batch_timeout), info(trained)
    page = resources.files("lit_rnn.serving").joinpath("page/index.html").read_text()
    server = PipedServer(
        api,
        accelerator="cpu",  # a 28-step LSTM over a few images is quicker on the CPU than their round trip to a GPU
        workers_per_device=workers,
        timeout=request_timeout,
        model_metadata=metadata,
        middlewares=[(Intake, {"api_key": api_key, "max_payload": max_payload, "page": page})],
    )
    app = server.app
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
        paths = schema.setdefault("paths", {})
        paths.pop("/", None)  # LitServe's "litserve running": the intake answers the page there
        paths["/predict"] = {
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


HANDLED = (signal.SIGINT, signal.SIGTERM)
AT_ONCE = "(a second signal) at once: the requests it held were not answered; nothing was written."


class PipedServer(litserve.LitServer):
    """A LitServer that stops on SIGINT or SIGTERM, whenever it comes, with no process left behind (``run``); whose
    workers do not take the terminal's Ctrl-C; and whose requests and answers go straight between the HTTP processes
    and the workers, where LitServe passes them through its multiprocessing manager, a third process
    (``_init_manager``).
    """

    stopped_by: int | None = None  # the signal that stopped ``run``; None: LitServe stopped by itself
    _holding = False  # a signal waits: processes are being started

    def run(self, *args: Any, **kwargs: Any) -> None:
        """``LitServer.run``, until a signal.

        The first signal stops it LitServe's way, as its Ctrl-C (a ``KeyboardInterrupt``): the HTTP processes accept
        nothing more and answer the requests they hold, then the workers end. A second ends every process at once.
        Whenever it comes (LitServe starting its manager, its workers importing, the HTTP processes starting), every
        process the server started ends with it. Only this process takes Ctrl-C, which a terminal sends to every
        process of its group: the HTTP processes (forked) and the workers (spawned) keep it blocked.
        """
        os.register_at_fork(after_in_child=_block_ctrl_c)
        for signum in HANDLED:
            signal.signal(signum, self._stop)
        try:
            super().run(*args, **kwargs)
        except KeyboardInterrupt:
            if self.stopped_by is None:
                raise  # not ours: Ctrl-C reaches this process only through ``_stop``
        except (EOFError, OSError):  # its wait for a stop, on the manager that its shutdown ended
            if all(worker.is_alive() for worker in getattr(self, "inference_workers", [])):
                raise  # LitServe stops by itself only when a worker dies
        finally:
            self._holding = True  # a first signal from here on is only recorded
            _end_children(at_once=False)

    def _stop(self, signum: int, frame: object) -> None:
        if self.stopped_by is not None:
            _end_children(at_once=True)
            interrupts.stop(signum, AT_ONCE)  # its line; Python's exit then frees what the processes held
        self.stopped_by = signum
        # LitServe's notes as it stops (that a worker it ended "died") are not for the user: the stop line says it all
        logging.getLogger("litserve").setLevel(logging.CRITICAL + 1)
        if not self._holding:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def _starting_processes(self) -> Iterator[None]:
        """Hold a signal while processes start, so that each is known (``multiprocessing.active_children``) when the
        signal stops the server; then raise it."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
        if self.stopped_by is not None:
            raise KeyboardInterrupt

    def launch_inference_worker(self, lit_api: litserve.LitAPI) -> list:
        # A spawned process keeps the signals blocked in the thread that started it. A worker that took a Ctrl-C
        # while importing would die of it with a traceback, and LitServe would wait for it to be ready for ever.
        with self._starting_processes():
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                return super().launch_inference_worker(lit_api)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def _init_manager(self, num_api_servers: int) -> Any:
        """LitServe's queues, as pipes: multiprocessing queues that the HTTP processes (forked) and the workers
        (spawned) inherit, not its manager's, through which every request made three round trips (the request put,
        taken, and its answer), the HTTP process waiting for the first (measured under load: 1.8 ms of the manager's
        CPU a request)."""
        with self._starting_processes():
            manager = super()._init_manager(num_api_servers)
            pipe = multiprocessing.get_context("spawn").Queue
            for path in self.litapi_request_queues:
                self.litapi_request_queues[path] = pipe()
            self._transport = LoopQueueTransport(manager, [pipe() for _ in range(num_api_servers)])
        return manager


def _block_ctrl_c() -> None:
    """In a process forked from the server (its manager, its HTTP processes): Ctrl-C is the server's to take, and
    SIGTERM ends it (uvicorn takes it, answers the requests it holds, then raises it again)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    for signum in HANDLED:
        signal.signal(signum, signal.SIG_DFL)


def _end_children(at_once: bool) -> None:
    """End every process this one started that still runs: at once (SIGKILL), or by SIGTERM and, after 5 seconds
    (LitServe's own wait for a worker), SIGKILL."""
    children = multiprocessing.active_children()
    for child in children:
        child.kill() if at_once else child.terminate()
    for child in children:
        child.join(timeout=5)
        if child.is_alive():
            child.kill()
            child.join()


class LoopQueueTransport(MessageTransport):
    """LitServe's transport of answers (its ``MessageTransport``) over multiprocessing queues, one per HTTP process,
    received in that process's event loop.

    LitServe's own (``MPQueueTransport``) waits for each answer in a thread of its own (``asyncio.to_thread``): a
    thread's round trip per request, in the process every request passes through (measured under load: 469
    requests/s with it, 713 without). Here the loop watches each queue's pipe for as long as it runs, and moves every
    answer that has arrived into a queue of its own, where ``areceive`` takes it.
    """

    def __init__(self, manager: Any, queues: list[Any]) -> None:
        self.answers, self.closed = queues, False
        self._arrived: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = {}

    def send(self, item: Any, consumer_id: int) -> None:
        self.answers[consumer_id].put(item)

    def close(self, send_sentinel: bool = True) -> None:
        """As LitServe's: closed here (each process has its own copy), a None to wake each reader if asked."""
        self.closed = True
        if send_sentinel:
            for answers in self.answers:
                with contextlib.suppress(Exception):
                    answers.put(None, block=False)

    def __reduce__(self) -> tuple:
        return type(self), (None, self.answers)  # to a spawned worker, which only sends

    async def areceive(self, consumer_id: int, timeout: float | None = None, block: bool = True) -> Any:
        if self.closed:
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
            answers, arrived = self.answers[consumer_id], asyncio.Queue()
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
