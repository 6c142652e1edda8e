"""Stage 1, discover: roots and file lists → the files to look at (one per inode)."""

from __future__ import annotations

from collections.abc import Iterator

from lookalike.engine.events import Event, Notice
from lookalike.engine.media.discover import Found, walk
from lookalike.engine.stages.context import Progress, ScanContext


def discover(ctx: ScanContext) -> Iterator[Event]:
    """Walk the roots; returns the found files. A second name of one inode (a hard link) is
    counted once: it is never "a duplicate to delete"."""
    prog = Progress("discover", None)
    found: list[Found] = []
    seen: set[tuple[int, int]] = set()
    hardlinks = 0
    for f in walk(ctx.roots + ctx.listed, ctx.filters, ctx.on_error, ctx.cancel.is_set):
        key = (f.dev, f.inode)
        if key in seen:
            hardlinks += 1
            continue
        seen.add(key)
        found.append(f)
        if (ev := prog.tick(len(found))) is not None:
            yield ev
        yield from ctx.flush_errors()
    yield from ctx.flush_errors()
    ctx.stats.files_seen = len(found)
    yield prog.done(len(found))
    ctx.timed("discover", prog.start)
    if hardlinks:
        yield Notice(f"{hardlinks} hard link(s) to files already seen were counted once")
    return found
