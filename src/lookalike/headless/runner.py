"""Runs a scan through the async engine API and writes results; returns the exit code."""

from __future__ import annotations

import asyncio
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from lookalike.engine.api import Engine
from lookalike.engine.catalog import CatalogError
from lookalike.engine.events import Event, ScanFinished
from lookalike.engine.options import ScanOptions
from lookalike.engine.ray_pool import RayUnavailable
from lookalike.engine.scanlock import ScanBusy
from lookalike.headless import exitcodes, output
from lookalike.headless.progress import make_progress


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

    async def consume() -> None:
        with make_progress(progress, err) as bar:
            async for ev in engine.scan(options, cancel):
                _handle(ev, bar, fmt, out)
                if isinstance(ev, ScanFinished):
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
    groups, errors = list(fin.groups), list(fin.errors)
    if fmt == "json":
        output.write_json(out, groups, errors, fin.stats)
    elif fmt == "csv":
        output.write_csv(out, groups)
    elif fmt == "text":
        output.write_text(out, groups, errors, fin.stats)
    out.flush()
    if link_dir is not None:
        try:
            n = output.write_link_dir(link_dir, groups)
            err.write(f"lookalike: {n} symlink(s) written under {link_dir}\n")
        except OSError as exc:
            err.write(f"lookalike: cannot write links under {link_dir}: {exc}\n")
            return RunResult(exitcodes.FATAL, fin)
    return RunResult(exitcodes.FILE_ERRORS if errors else exitcodes.OK, fin)


def _handle(ev: Event, bar, fmt: str, out: TextIO) -> None:
    bar.handle(ev)
    if fmt == "jsonl":
        output.write_event_line(out, ev)
