"""Stage 2, diff: found files → catalog rows; only new or changed files go on to be read.

A file is matched by path and stat (dev, inode, size, mtime); a file that moved keeps its
id (and its features and decisions); files this walk would have listed that are gone now
are forgotten. Kinds are sniffed from the first bytes of files that have none yet.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from lookalike.engine.catalog import FileRow
from lookalike.engine.events import Event, Notice
from lookalike.engine.features import exact as hashing
from lookalike.engine.known_files import KnownFiles, touch_files
from lookalike.engine.media.discover import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    Found,
    walk_would_list,
)
from lookalike.engine.media.readahead import ReadAhead
from lookalike.engine.media.sniff import IMAGE, OTHER, VIDEO, sniff
from lookalike.engine.records import FileError
from lookalike.engine.stages.context import COMMIT_EVERY, Progress, ScanContext, Writes
from lookalike.engine.stages.early import Early, open_early

SEND_EVERY = 1024  # sniffed photos of a size all their own sent to the pool at once (early.py)
# the first batches are smaller (64, 128, …): the workers start on the first photos sniffed, not
# after 1024 of them (at 100k, ≈ 14k files sniffed: ≈ 0.5 s of two idle workers)
FIRST_SEND = 64
INSERT_EVERY = 5000  # a first scan's rows inserted a short transaction at a time


@dataclass
class Diffed:
    """The diff's output: every row this scan saw, and those that are photos or videos."""

    rows: dict[int, FileRow]
    media: list[FileRow]
    early: Early | None = None  # photos sent to the decode pool while sniffing (early.py)


def _is_gone(path: str) -> bool:
    """True only when the file is really not there (an unreadable folder is not "gone")."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


def _file_row(ctx: ScanContext, known: KnownFiles, f: Found) -> tuple[FileRow, bool]:
    """The catalog row of ``f`` (every column, as ``files_by_ids`` reads them) and whether it
    is unchanged (its ``seen_scan`` is still to be stamped; the others are written with it):
    the same row when unchanged or changed in place, a moved file's old row when its stat
    matches a path that is gone, else a new row."""
    cat, stats = ctx.cat, ctx.stats
    row = known.take(f.path)
    if row is not None and (row.dev, row.inode, row.size, row.mtime_ns) == (
        f.dev,
        f.inode,
        f.size,
        f.mtime_ns,
    ):
        stats.files_unchanged += 1
        return row, True
    if row is not None:
        cat.reset_file(row.id, f.dev, f.inode, f.size, f.mtime_ns, ctx.scan_id)
        stats.files_changed += 1
        return _bare(row.id, f), False
    moved = [
        r
        for r in cat.files_by_stat(f.dev, f.inode, f.size, f.mtime_ns)
        if not os.path.lexists(r.path)
    ]
    if moved:
        known.moved_away(moved[0].path)
        cat.move_file(moved[0].id, f.path, ctx.scan_id)
        stats.files_moved += 1
        moved[0].path = f.path
        return moved[0], False
    stats.files_new += 1
    return _bare(cat.add_file(f.path, f.dev, f.inode, f.size, f.mtime_ns, ctx.scan_id), f), False


def _bare(fid: int, f: Found) -> FileRow:
    """A new or changed file's row: its stat, nothing derived yet."""
    return FileRow(fid, f.path, f.dev, f.inode, f.size, f.mtime_ns, None, None, None, None)


def _match_rows(ctx: ScanContext, found: list[Found], prog: Progress) -> Iterator[Event]:
    """Match every found file to its catalog row; returns {id: row}, every column.
    Short transactions: other writers (the app's saves) get a turn, and the write lock is
    never held across a yield. The rows under the roots are read first, in one pass
    (known_files.py)."""
    cat = ctx.cat
    known = KnownFiles(cat, ctx.roots)
    rows: dict[int, FileRow] = {}
    unchanged: list[int] = []
    cat.begin()  # one scan at a time (scanlock.py): no other writer adds files meanwhile
    last_commit = time.monotonic()
    for n, f in enumerate(found):
        if ctx.cancel.is_set():
            break
        if time.monotonic() - last_commit > COMMIT_EVERY:
            cat.commit()
            cat.begin()
            last_commit = time.monotonic()
        row, same = _file_row(ctx, known, f)
        if same:
            unchanged.append(row.id)
        rows[row.id] = row
        if (ev := prog.tick(n + 1)) is not None:
            cat.commit()
            yield ev
            cat.begin()
            last_commit = time.monotonic()
    cat.begin()  # no-op if a transaction is open
    touch_files(cat.db, unchanged, ctx.scan_id)
    cat.commit()
    return rows


def _first_rows(ctx: ScanContext, found: list[Found], prog: Progress) -> Iterator[Event]:
    """A first scan (the catalog had no file): nothing to look up (the walk lists each inode
    once), so the rows are numbered as SQLite would number them (1, 2, … in walk order),
    sniffed, and only then inserted, kind and head+tail hash with them (``executemany``, a
    batch a short transaction): no update a file, and the photos of a size of their own go
    to the workers from the first one sniffed, not after every row is written. Every row is
    inserted even when the scan is cancelled meanwhile: each photo sent has its row when
    the extract stores what came back. Returns ({id: row}, the early decodes)."""
    rows = {n + 1: _bare(n + 1, f) for n, f in enumerate(found)}
    ctx.stats.files_new += len(rows)
    early = _open_early(ctx)
    yield from _sniff_kinds(ctx, rows, early, None, prog)
    todo = list(rows.values())
    for i in range(0, len(todo), INSERT_EVERY):
        with ctx.cat.transaction():
            ctx.cat.add_files(todo[i : i + INSERT_EVERY], ctx.scan_id)
    return rows, early


def _known_rows(ctx: ScanContext, found: list[Found], prog: Progress) -> Iterator[Event]:
    """A rescan: rows matched (``_match_rows``), gone files forgotten, new kinds sniffed."""
    rows = yield from _match_rows(ctx, found, prog)
    if not ctx.cancel.is_set():
        _forget_gone(ctx)
    early = _open_early(ctx)
    yield from _sniff_kinds(ctx, rows, early, Writes(ctx.cat), prog)
    return rows, early


def _open_early(ctx: ScanContext) -> Early | None:
    """The decode pool, started when there is something new to read, and its early decodes."""
    opts = ctx.options
    if ctx.stats.files_new + ctx.stats.files_changed and (opts.same or opts.thumbnails):
        ctx.pool.start()  # workers import while we sniff and hash; the decode starts warm
        return open_early(ctx)
    return None


def _forget_gone(ctx: ScanContext) -> None:
    """Only files this walk would have listed and that are gone now are forgotten: a
    filtered or partial scan never evicts the rest (nor its decisions)."""
    scanned = [r for r in ctx.roots if os.path.isdir(r)]
    filters = ctx.filters
    gone = [
        fid
        for fid, path, size in ctx.cat.unseen_under(scanned, ctx.scan_id)
        if walk_would_list(path, size, scanned, filters) and _is_gone(path)
    ]
    ctx.cat.begin()
    ctx.stats.files_removed = ctx.cat.remove_files(gone)
    ctx.cat.commit()


def _sniff_kinds(
    ctx: ScanContext,
    rows: dict[int, FileRow],
    early: Early | None,
    writes: Writes | None,
    prog: Progress,
) -> Iterator[Event]:
    """Kind sniffing for files that have none yet (writes queued, committed in batches).
    The files' first pages are asked for ahead (readahead.py): on a first scan each read
    would otherwise wait for the disk, one file at a time, and the later stages read the
    same pages again. A photo whose size no other file has goes to the pool as sniffed; a
    photo or video whose size another file has gets its head+tail hash from the same read
    (``_sniff``), so the exact stage opens and writes nothing for it. ``writes`` None: the
    rows are not in the catalog yet (``_first_rows`` inserts them with what was sniffed).
    Progress goes on through the sniff (on a cold disk it is most of the stage: ≈ 5 s at
    100k, a minute at 1 M): a rescan's bar counts the files matched, then those sniffed."""
    todo = [row for row in rows.values() if row.kind is None]
    base = (prog.total or 0) if writes is not None else 0  # a rescan: the match came first
    prog.total = base + len(todo)
    sizes = Counter(row.size for row in rows.values())
    pending: list[FileRow] = []
    send_at = min(FIRST_SEND, SEND_EVERY)
    with ReadAhead([row.path for row in todo], keep=True) as ahead:  # closes what is left
        for i, row in enumerate(todo):
            if not ctx.cancel.is_set():
                ahead.reached(i)
                try:
                    row.kind, row.headtail = _sniff(row, sizes[row.size] > 1, ahead.take(i))
                except FileNotFoundError:
                    ctx.on_error(FileError(row.path, "vanished before it could be read"))
                    row.kind = "gone"
                except OSError as exc:
                    ctx.on_error(FileError(row.path, f"cannot be read ({exc.strerror or exc})"))
                    row.kind = "unreadable"
                if writes is not None:
                    if row.headtail is None:
                        writes.row(ctx.cat.set_kinds, row.id, row.kind, None)
                    else:
                        writes.row(ctx.cat.set_sniffed, row.id, row.kind, row.headtail)
                    writes.maybe_flush()
                if early is not None and sizes[row.size] == 1 and early.wanted(row):
                    pending.append(row)
                    if len(pending) >= send_at:
                        early.send(ctx, pending)
                        pending = []
                        send_at = min(SEND_EVERY, 2 * send_at)
            if (ev := prog.tick(base + i + 1)) is not None:
                yield ev
                yield from ctx.flush_errors()
    if writes is not None:
        writes.flush()
    if early is not None:
        early.send(ctx, pending)


def _is_media(kind: str | None, path: str) -> bool:
    """Whether a file is media: a photo, a video, or a file named as an image (``_media``
    keeps it and reports what is wrong with the last; the sniff hashes a colliding one)."""
    return kind in (IMAGE, VIDEO) or (
        kind == OTHER and os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS
    )


def _sniff(row: FileRow, collides: bool, fd: int | None = None) -> tuple[str, bytes | None]:
    """The file's kind from its first 32 bytes, and, when its size ``collides`` with another
    file's and it is media, its head+tail hash (features/exact.py) from the same descriptor:
    at 100k nearly every file collides, and the exact stage's second open, read and catalog
    update a file cost ≈ 3 s of the driver (issue 13). os.open/os.read, not open(), whose
    buffered file object cost twice the syscalls' CPU (≈ 14 vs 7 µs a file). ``fd``: the
    file's descriptor the read-ahead opened (readahead.py ``keep``), closed here too."""
    if fd is None:
        fd = os.open(row.path, os.O_RDONLY)
    try:
        if not collides or row.size <= 0:
            return sniff(os.read(fd, 32))[0], None
        try:
            first = hashing.first_block(fd, row.size)
        except OSError:  # a bad block past the head: sniffed as ever; the exact stage reports it
            return sniff(os.pread(fd, 32, 0))[0], None
        kind = sniff(first[:32])[0]
        if not _is_media(kind, row.path):
            return kind, None
        try:
            return kind, hashing.headtail_of(fd, row.size, first)
        except OSError:
            return kind, None
    finally:
        os.close(fd)


def _media(ctx: ScanContext, rows: dict[int, FileRow]) -> list[FileRow]:
    """Photos and videos; a file named like an image or a video that is not one is reported."""
    media = []
    for r in rows.values():
        if _is_media(r.kind, r.path):
            media.append(r)
        if r.kind != OTHER:
            continue
        ext = os.path.splitext(r.path)[1].lower()
        if ext in IMAGE_EXTENSIONS:
            why = "not an image (content is not a known image format)"
        elif ext in VIDEO_EXTENSIONS:
            why = "not a video (content is no known video format: damaged, or misnamed)"
        else:
            continue
        ctx.on_error(FileError(r.path, "empty file (0 bytes)" if r.size == 0 else why))
    return media


def _without_rule_hidden(ctx: ScanContext, media: list[FileRow]) -> tuple[list[FileRow], int]:
    """Media minus the files a content rule hid (by identity: dev, inode, size, mtime)."""
    from lookalike.engine import hidden

    gone = hidden.identities(ctx.cat.db)
    if not gone:
        return media, 0
    kept = [r for r in media if (r.dev, r.inode, r.size, r.mtime_ns) not in gone]
    return kept, len(media) - len(kept)


def diff(ctx: ScanContext, found: list[Found]) -> Iterator[Event]:
    """Found files → ``Diffed`` (full catalog rows with kinds, and the photos/videos)."""
    prog = Progress("catalog", len(found))
    rows_of = _known_rows if ctx.cat.has_files() else _first_rows
    rows, early = yield from rows_of(ctx, found, prog)
    opts = ctx.options
    yield from ctx.flush_errors()
    yield prog.done(len(rows))
    ctx.timed("catalog", prog.start)
    media = _media(ctx, rows)
    if not opts.show_rule_hidden:  # content rules' `hide`: out of every group
        media, n_hidden = _without_rule_hidden(ctx, media)
        if n_hidden:
            yield Notice(
                f"{n_hidden} file(s) hidden by content rules are left out "
                "(--show-hidden shows them; lookalike rules unhide brings them back)",
                level="warning",  # results left out on purpose: scripts should see it
            )
    videos = sum(1 for r in media if r.kind == VIDEO)
    if videos and not (opts.video and opts.same):
        yield Notice(f"{videos} video file(s) are checked for exact copies only")
    yield from ctx.flush_errors()
    return Diffed(rows, media, early)
