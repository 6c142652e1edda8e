"""Wait for an in-app scan to end, and say why when it does not finish.

A bare ``wait_for(state == "finished")`` turned a failed scan into a 60 s timeout with no cause;
this helper fails at once with the scan's error, and on a timeout prints where every other
thread is (the engine runs in a worker thread).
"""

from __future__ import annotations

import asyncio
import sys
import threading
import traceback

from textual.pilot import Pilot


def _thread_stacks() -> str:
    frames = sys._current_frames()
    out = []
    for t in threading.enumerate():
        if t is threading.main_thread() or t.ident not in frames:
            continue
        out.append(f"--- thread {t.name}\n" + "".join(traceback.format_stack(frames[t.ident])))
    return "\n".join(out) or "(no other threads)"


async def wait_scan_finished(pilot: Pilot, app, timeout: float = 60.0) -> None:
    """Until the app's scan leaves "running"; then it must be "finished"."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while app.scan_model.state in ("idle", "running"):
        if loop.time() > end:
            model = app.scan_model
            raise AssertionError(
                f"scan still {model.state!r} after {timeout:.0f} s; stages {model.stages}; "
                f"errors {model.errors}\n{_thread_stacks()}"
            )
        await pilot.pause(0.05)
    model = app.scan_model
    assert model.state == "finished", f"scan {model.state}: {model.summary}; errors {model.errors}"
