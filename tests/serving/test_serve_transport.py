"""The answers' way back from LitServe's workers to the HTTP process: ``LoopQueueTransport`` takes each from its
multiprocessing queue in the event loop, as it arrives, in the order sent, and waits no longer than LitServe's own."""

import asyncio
import multiprocessing
import threading
import time

import pytest

from lit_rnn.serving.server import LoopQueueTransport


@pytest.fixture
def transport():
    queues = [multiprocessing.get_context("spawn").Queue() for _ in range(2)]
    yield LoopQueueTransport(None, queues)
    for answers in queues:
        answers.close()


def test_answers_arrive_in_order_for_their_consumer_alone(transport):
    for number in range(3):
        transport.send(("uid", number), consumer_id=1)

    async def receive(consumer):
        return [await transport.areceive(consumer) for _ in range(3)]

    assert asyncio.run(receive(1)) == [("uid", 0), ("uid", 1), ("uid", 2)]
    assert asyncio.run(transport.areceive(0, timeout=0.05)) is None


def test_an_answer_sent_while_the_loop_waits_wakes_it_without_polling(transport):
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
    answer, waited, ticks = asyncio.run(receive())
    assert answer == ("late", b"x" * 200_000)
    assert 0.15 < waited < 0.9 and ticks >= 10


def test_a_closed_transport_stops_its_reader(transport):
    transport.close(send_sentinel=False)
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(transport.areceive(0))
