"""Runs a scan through the async engine API and writes results; returns the exit code.

Results are written as the engine yields each group (headless/stream.py), never gathered
into one document in memory first.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from lookalike.engine.api import Engine
from lookalike.engine.catalog import CatalogError
from lookalike.engine.events import GroupFound, ScanFinished
from lookalike.engine.options import ScanOptions
from lookalike.engine.ray_pool import RayUnavailable
from lookalike.engine.scanlock import ScanBusy
from lookalike.headless import exitcodes, output
from lookalike.headless.progress import make_progress
from lookalike.headless.stream import ResultStream

FLUSH_EVERY = 0.2  # seconds: groups reach a pipe this soon, without a write(2) per group


@dataclass
class RunResult:
    code: int
    finished: ScanFinished | None


def run_scan(
    engine: Engine,
    options: ScanOptions,
    fmt: str,
    out: TextIO,
    link_dir: Path | None = None,
    progress: str = "auto",
    err: TextIO = sys.stderr,
) -> RunResult:
    cancel = threading.Event()
    finished: list[ScanFinished] = []
    results = ResultStream(fmt, out, link_dir)
    flushed = [time.monotonic()]

    async def consume() -> None:
        with make_progress(progress, err) as bar:
            async for ev in engine.scan(options, cancel):
                bar.handle(ev)
                if fmt == "jsonl":
                    output.write_event_line(out, ev)
                if isinstance(ev, GroupFound):
                    results.group(ev.group)
                    if time.monotonic() - flushed[0] > FLUSH_EVERY:  # a pipe sees groups soon
                        out.flush()
                        flushed[0] = time.monotonic()
                elif isinstance(ev, ScanFinished):
                    finished.append(ev)

    try:
        asyncio.run(consume())
    except KeyboardInterrupt:
        cancel.set()
        err.write(
            "lookalike: interrupted; what was computed is kept in the catalog, "
            "run the same command again to resume\n"
        )
        return RunResult(exitcodes.INTERRUPTED, None)
    except ScanBusy as exc:
        err.write(f"lookalike: {exc}\n")
        return RunResult(exitcodes.BUSY, None)
    except (CatalogError, RayUnavailable) as exc:
        err.write(f"lookalike: {exc}\n")
        return RunResult(exitcodes.FATAL, None)
    if not finished:
        return RunResult(exitcodes.FATAL, None)
    fin = finished[0]
    if fin.cancelled:
        return RunResult(exitcodes.INTERRUPTED, fin)
    results.finish(fin.errors, fin.stats)
    out.flush()
    if link_dir is not None:
        if results.link_error is not None:
            err.write(f"lookalike: cannot write links under {link_dir}: {results.link_error}\n")
            return RunResult(exitcodes.FATAL, fin)
        err.write(f"lookalike: {results.links} symlink(s) written under {link_dir}\n")
    return RunResult(exitcodes.FILE_ERRORS if fin.errors else exitcodes.OK, fin)
