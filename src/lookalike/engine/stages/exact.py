"""Stage 3, exact: photos/videos → byte-identical clusters and one representative each.

size → head/tail block hash → full hash, each step only for files that still collide, so a
collection of distinct files is never read in full. Later stages decode one file per cluster.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from lookalike.engine.catalog import FileRow
from lookalike.engine.events import Event
from lookalike.engine.features import exact as hashing
from lookalike.engine.media.sniff import IMAGE, VIDEO
from lookalike.engine.records import FileError
from lookalike.engine.stages.context import Progress, ScanContext, Writes


@dataclass
class Exact:
    """The exact stage's output: clusters by representative, and what stands for what."""

    clusters: list[list[FileRow]]
    rep_of: dict[int, int]  # file id → its cluster's representative id
    cluster_of: dict[int, list[FileRow]]  # representative id → the cluster
    reps: list[FileRow]  # photos that stand for themselves or a cluster
    video_reps: list[FileRow]  # videos sampled and aligned (empty when video is off)
    marked: set[tuple[int, int]]  # the reviewer's "not a duplicate" pairs (file ids)


def kept_apart(cluster: list[FileRow], marked: set[tuple[int, int]]) -> list[list[FileRow]]:
    """Byte-identical files the reviewer marked "not a duplicate" are not grouped either (say
    the same photo kept on purpose in two projects): split the cluster so no marked pair shares
    a part; a file left alone stands for itself."""
    if not marked:
        return [cluster]
    parts: list[list[FileRow]] = []
    for r in cluster:
        for part in parts:
            if not any((min(r.id, o.id), max(r.id, o.id)) in marked for o in part):
                part.append(r)
                break
        else:
            parts.append([r])
    return [p for p in parts if len(p) > 1]


def _hashed(ctx: ScanContext, rows: list[FileRow], writes: Writes, full: bool) -> dict:
    """``rows`` by head/tail hash (or full hash); files that cannot be read are reported."""
    out: dict[bytes, list[FileRow]] = defaultdict(list)
    for r in rows:
        have = r.fullhash if full else r.headtail
        if have is None:
            try:
                if full:
                    r.fullhash = have = hashing.full_hash(r.path)
                    ctx.stats.bytes_hashed += r.size
                    writes.row(ctx.cat.set_fullhashes, r.id, have)
                else:
                    r.headtail = have = hashing.headtail_hash(r.path, r.size)
                    writes.row(ctx.cat.set_headtails, r.id, have)
            except OSError as exc:
                ctx.on_error(FileError(r.path, f"cannot be read ({exc.strerror or exc})"))
                continue
        out[have].append(r)
    return out


def _clusters(ctx: ScanContext, media: list[FileRow], marked: set) -> Iterator[Event]:
    """Byte-identical clusters among ``media`` (sorted by path, split by marks)."""
    by_size: dict[int, list[FileRow]] = defaultdict(list)
    for r in media:
        if r.size > 0:
            by_size[r.size].append(r)
    colliding = [g for g in by_size.values() if len(g) > 1]
    prog = Progress("exact", sum(len(g) for g in colliding))
    writes = Writes(ctx.cat)
    done = 0
    clusters: list[list[FileRow]] = []
    for g in colliding:
        if ctx.cancel.is_set():
            break
        for hg in _hashed(ctx, g, writes, full=False).values():
            if len(hg) < 2:
                continue
            for c in _hashed(ctx, hg, writes, full=True).values():
                if len(c) > 1:
                    clusters.extend(kept_apart(sorted(c, key=lambda r: r.path), marked))
        done += len(g)
        writes.maybe_flush()
        if (ev := prog.tick(done)) is not None:
            yield ev
    writes.flush()
    yield from ctx.flush_errors()
    yield prog.done(done)
    ctx.timed("exact", prog.start)
    return clusters


def exact(ctx: ScanContext, media: list[FileRow]) -> Iterator[Event]:
    """Photos/videos → ``Exact``: clusters and the representatives later stages read."""
    marked = ctx.cat.not_duplicate_pairs()
    clusters = yield from _clusters(ctx, media, marked)
    rep_of: dict[int, int] = {}
    cluster_of: dict[int, list[FileRow]] = {}
    for c in clusters:
        for r in c:
            rep_of[r.id] = c[0].id
        cluster_of[c[0].id] = c
    stands = [r for r in media if rep_of.get(r.id, r.id) == r.id]
    reps = [r for r in stands if r.kind == IMAGE]
    videos = ctx.options.video and ctx.options.same
    video_reps = [r for r in stands if r.kind == VIDEO] if videos else []
    return Exact(clusters, rep_of, cluster_of, reps, video_reps, marked)
