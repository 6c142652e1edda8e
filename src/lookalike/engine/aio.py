"""Async bridge: run an engine generator (scan, apply, undo, redo) in a worker thread and
receive its events on the event loop, so file work never blocks the UI."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator

from lookalike.engine.events import Event


async def async_events(
    make: Callable[[], Iterator[Event]], name: str = "lookalike-worker"
) -> AsyncIterator[Event]:
    """``async for ev in async_events(lambda: apply_plan(plan, cancel=stop)): …``.

    Exceptions (e.g. :class:`ActionError`) are re-raised in the consumer. To stop early, set the
    ``cancel`` event given to the generator; the batch then ends cleanly and is journalled.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Event | BaseException | None] = asyncio.Queue()
    pending: deque[Event | BaseException | None] = deque()
    woken = threading.Lock()  # held from a wake-up's post until the loop takes the items

    def deliver() -> None:
        """On the loop: every item posted since the wake-up, in order."""
        woken.release()
        while pending:
            queue.put_nowait(pending.popleft())

    def post(item: Event | BaseException | None) -> None:
        """One wake-up of the loop for as many events as arrive before it runs: each
        ``call_soon_threadsafe`` writes to the loop's socket (≈ 35 µs of the scan thread's CPU,
        10 000 times in a 100k scan's rank stage alone: issue 13)."""
        pending.append(item)
        if not woken.acquire(blocking=False):
            return  # a wake-up is on its way; ``deliver`` takes this item with the others
        try:
            loop.call_soon_threadsafe(deliver)
        except RuntimeError:  # the consumer is gone and its loop closed
            pass

    def work() -> None:
        try:
            for ev in make():
                post(ev)
        except BaseException as exc:  # handed to the consumer, never lost
            post(exc)
            return
        post(None)

    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    while True:
        item = await queue.get()
        if item is None:
            break
        if isinstance(item, BaseException):
            raise item
        yield item
