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
    _start_pool_early(ctx)
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


def _start_pool_early(ctx: ScanContext) -> None:
    """A first scan (the catalog has no file) will decode whatever the walk finds: its decode
    workers start now and import on the core the walk leaves idle, not after the catalog
    rows are written (diff.py starts them there for a rescan that finds new files)."""
    opts = ctx.options
    if opts.executor != "local" or not (opts.same or opts.thumbnails) or ctx.cancel.is_set():
        return  # a Ray cluster is joined only once there is something to send it
    if ctx.cat is not None and not ctx.cat.has_files():  # None: a large one, opened later
        ctx.pool.start()
