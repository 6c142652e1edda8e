"""The async bridge hands every event of the worker thread to the loop, in order, waking the
loop once for the events that arrive before it runs (engine/aio.py)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from lookalike.engine.aio import async_events


def _run(make, on_first=None, loop=None):
    """Every item ``async_events`` yields for ``make``, on ``loop``; ``on_first`` runs
    (blocking the loop) when the first item arrives."""
    got: list = []

    async def consume() -> None:
        async for ev in async_events(make, "test-bridge"):
            got.append(ev)
            if len(got) == 1 and on_first is not None:
                on_first()

    loop = loop or asyncio.new_event_loop()
    try:
        loop.run_until_complete(consume())
    finally:
        loop.close()
    return got


def _counting_loop() -> tuple[asyncio.AbstractEventLoop, list[int]]:
    loop = asyncio.new_event_loop()
    calls = [0]
    real = loop.call_soon_threadsafe

    def counted(*args, **kwargs):
        calls[0] += 1
        return real(*args, **kwargs)

    loop.call_soon_threadsafe = counted  # type: ignore[method-assign]
    return loop, calls


def test_every_event_arrives_in_order():
    n = 20_000
    assert _run(lambda: iter(range(n))) == list(range(n))


def test_events_posted_while_the_loop_is_busy_take_one_wake_up():
    """While the consumer holds the loop (a blocking call), the thread posts 5 000 events:
    they reach the loop with one wake-up, not 5 000, and none is lost or reordered."""
    n = 5_000
    posted = threading.Event()

    def make():
        yield from range(n)
        posted.set()

    loop, calls = _counting_loop()
    got = _run(make, on_first=lambda: posted.wait(10), loop=loop)
    assert got == list(range(n))
    assert posted.is_set()
    # the first event's wake-up, one for everything posted while the loop was held, and at
    # most one more for the end marker
    assert calls[0] <= 3


def test_an_exception_comes_after_the_events_before_it():
    class Boom(Exception):
        pass

    def make():
        yield from range(100)
        raise Boom("worker failed")

    got: list = []

    async def consume() -> None:
        async for ev in async_events(make):
            got.append(ev)

    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(Boom, match="worker failed"):
            loop.run_until_complete(consume())
    finally:
        loop.close()
    assert got == list(range(100))


def test_a_slow_producer_still_wakes_the_loop_for_each_event():
    """Events that come one at a time each reach the consumer as they come, not held back
    until more arrive."""
    seen_at: list[float] = []
    sent_at: list[float] = []

    def make():
        for i in range(5):
            sent_at.append(time.monotonic())
            yield i
            time.sleep(0.2)

    async def consume() -> None:
        async for _ in async_events(make):
            seen_at.append(time.monotonic())

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(consume())
    finally:
        loop.close()
    assert len(seen_at) == 5
    # each event seen well before the next one is sent
    assert all(seen < sent_at[i + 1] for i, seen in enumerate(seen_at[:-1]))
