"""Async bridge: run an engine generator (scan, apply, undo, redo) in a worker thread and
receive its events on the event loop, so file work never blocks the UI."""

from __future__ import annotations

import asyncio
import threading
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

    def post(item: Event | BaseException | None) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
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
