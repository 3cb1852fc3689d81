"""The answers' way back from LitServe's workers to the HTTP process: ``LoopQueueTransport`` takes each from its
multiprocessing queue in the event loop, as it arrives, in the order sent, and waits no longer than LitServe's own;
on asyncio's loop and on uvloop, the one uvicorn runs the server in."""

import asyncio
import multiprocessing
import threading
import time

import pytest
from helpers.serving import send_answers

from lit_rnn.serving.server import LoopQueueTransport

ANSWERS = 1000


def uvloop_loop() -> asyncio.AbstractEventLoop:
    return pytest.importorskip("uvloop").new_event_loop()


@pytest.fixture(params=[asyncio.new_event_loop, uvloop_loop], ids=["asyncio", "uvloop"])
def run(request):
    """Runs a coroutine in the loop under test: each call a new loop, as each server process has its own."""

    def run_in_loop(coroutine):
        with asyncio.Runner(loop_factory=request.param) as runner:
            return runner.run(coroutine)

    return run_in_loop


@pytest.fixture
def queues():
    """Each HTTP process's queue of answers, as ``DrainingServer`` makes them."""
    made = [multiprocessing.get_context("spawn").Queue() for _ in range(2)]
    yield made
    for answers in made:
        answers.close()


@pytest.fixture
def transport(queues):
    return LoopQueueTransport(None, queues)


def test_answers_arrive_in_order_for_their_consumer_alone(transport, run):
    for number in range(3):
        transport.send(("uid", number), consumer_id=1)

    async def receive(consumer):
        return [await transport.areceive(consumer) for _ in range(3)]

    assert run(receive(1)) == [("uid", 0), ("uid", 1), ("uid", 2)]
    assert run(transport.areceive(0, timeout=0.05)) is None


def test_every_answer_of_a_worker_process_arrives_whole_and_in_order(queues, transport, run):
    """Under uvloop the first version of this transport lost every answer after one that arrived in parts."""
    worker = multiprocessing.get_context("spawn").Process(target=send_answers, args=(queues[0], ANSWERS))
    worker.start()

    async def receive():
        received, deadline = [], time.monotonic() + 120  # the worker starts in seconds, and sends in less
        while len(received) < ANSWERS and time.monotonic() < deadline:
            answer = await transport.areceive(0)
            if answer is not None:  # None: a second without an answer
                received.append(answer[0])
        return received

    received = run(receive())
    worker.join(timeout=60)
    assert received == [f"uid{number}" for number in range(ANSWERS)]


def test_an_answer_sent_while_the_loop_waits_wakes_it_without_polling(transport, run):
    def send_later():
        time.sleep(0.2)
        transport.send(("late", b"x" * 200_000), consumer_id=0)  # larger than a pipe's buffer: sent in parts

    async def receive():
        ticks = 0

        async def count():  # the loop stays free while it waits
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        counter = asyncio.create_task(count())
        started = time.monotonic()
        answer = await transport.areceive(0)
        counter.cancel()
        return answer, time.monotonic() - started, ticks

    threading.Thread(target=send_later).start()
    answer, waited, ticks = run(receive())
    assert answer == ("late", b"x" * 200_000)
    assert 0.15 < waited < 0.9 and ticks >= 10


def test_a_closed_transport_stops_its_reader(transport, run):
    transport.close(send_sentinel=False)
    with pytest.raises(asyncio.CancelledError):
        run(transport.areceive(0))
