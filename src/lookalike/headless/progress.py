"""Progress on stderr: a rich bar with ETA on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from lookalike.engine.events import Event, ItemError, Notice, StageDone, StageProgress

STAGE_LABEL = {
    "discover": "Finding files",
    "catalog": "Checking catalog",
    "exact": "Hashing same-size files",
    "extract": "Decoding images",
    "video": "Sampling videos",
    "embed": "Embedding",
    "verify": "Verifying candidates",
    "group": "Grouping",
    "recheck": "Checking look-alikes",
    "rules": "Content rules",
    "rank": "Choosing keepers",
}


def _fmt_eta(s: float | None) -> str:
    if s is None:
        return "?"
    s = int(s)
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


class PlainProgress:
    """One line per stage every few seconds; good for logs and pipes."""

    def __init__(self, stream: TextIO, every: float = 2.0, quiet: bool = False) -> None:
        self.stream = stream
        self.every = every
        self.quiet = quiet
        self.last: dict[str, float] = {}

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def handle(self, ev: Event) -> None:
        if isinstance(ev, ItemError):
            self.stream.write(f"lookalike: {ev.error.path!s}: {ev.error.error}\n")
        elif isinstance(ev, Notice):
            if not self.quiet or ev.level != "info":
                self.stream.write(f"lookalike: {ev.message}\n")
        elif self.quiet:
            return
        elif isinstance(ev, StageProgress):
            now = time.monotonic()
            if now - self.last.get(ev.stage, 0.0) < self.every:
                return
            self.last[ev.stage] = now
            total = f"/{ev.total}" if ev.total is not None else ""
            rate = f" {ev.rate:.1f}/s" if ev.rate else ""
            eta = f" ETA {_fmt_eta(ev.eta)}" if ev.eta is not None else ""
            self.stream.write(
                f"{STAGE_LABEL.get(ev.stage, ev.stage)}: {ev.done}{total}{rate}{eta}\n"
            )
        elif isinstance(ev, StageDone):
            self.stream.write(
                f"{STAGE_LABEL.get(ev.stage, ev.stage)}: done, {ev.count} in {ev.seconds:.1f}s\n"
            )
        self.stream.flush()


class RichProgress:
    """A live bar per stage, with count, rate and ETA (only when stderr is a terminal)."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(file=stream, stderr=True)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def _task(self, stage: str, total: int | None) -> int:
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(
                STAGE_LABEL.get(stage, stage), total=total, rate=""
            )
        return self.tasks[stage]

    def handle(self, ev: Event) -> None:
        if isinstance(ev, ItemError):
            self.progress.console.print(
                f"[yellow]{ev.error.path}[/]: {ev.error.error}", markup=True, highlight=False
            )
        elif isinstance(ev, Notice):
            self.progress.console.print(ev.message, highlight=False)
        elif isinstance(ev, StageProgress):
            t = self._task(ev.stage, ev.total)
            rate = f"{ev.rate:.1f}/s" if ev.rate else ""
            self.progress.update(t, completed=ev.done, total=ev.total, rate=rate)
        elif isinstance(ev, StageDone):
            t = self._task(ev.stage, ev.count)
            self.progress.update(t, completed=ev.count, total=max(ev.count, 1))


def make_progress(mode: str, stream: TextIO = sys.stderr) -> PlainProgress | RichProgress:
    if mode == "auto":
        mode = "bar" if stream.isatty() else "plain"
    if mode == "bar":
        return RichProgress(stream)
    return PlainProgress(stream, quiet=(mode == "none"))
