"""A rescan in which nothing changed reuses the stored groups instead of regrouping.

Grouping and ranking are a pure function of the scan's files (their catalog rows and stored
features), the "not a duplicate" marks, the options, the code and a few environment knobs.
After a full group + rank whose stored review is exactly this scan's groups, the catalog's
``meta`` table keeps a fingerprint of all of those, a hash of the stored group rows, and the
events the two stages sent besides the groups. A later scan whose fingerprint matches, and
whose stored rows still hash the same, sends the stored groups (and those events) instead of
regrouping — the same groups, stats and output. When in doubt it regroups: with ``--model``
or ``--rules`` (their stages keep state this fingerprint does not cover), after a scan whose
group or rank stage reported a file error, or when the review holds groups of other scans.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import time
from collections.abc import Generator, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from lookalike import __version__
from lookalike.engine.catalog import Catalog, FileRow
from lookalike.engine.catalog_schema import group_from_row
from lookalike.engine.disk_columns import threshold_problem
from lookalike.engine.events import Event, GroupFound, Notice, StageDone, StageProgress
from lookalike.engine.features.extract import PERCEPTUAL_VERSION
from lookalike.engine.recheck import RECHECK_VERSION
from lookalike.engine.records import Group
from lookalike.engine.scan_groups import GroupSpool, ScanGroups
from lookalike.engine.stages.context import ScanContext
from lookalike.engine.stages.exact import Exact

KEY = "groups_reuse"  # the meta table's row
FORMAT = 1  # of the stored record
# Options that only say how or where the work runs, never what the groups are.
NOT_GROUPING = ("workers", "wait")


@lru_cache(maxsize=1)
def _engine_source() -> str:
    """A hash of the engine's own code: an upgrade (or an edit) regroups."""
    h = hashlib.blake2b(digest_size=16)
    root = Path(__file__).parent
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


# Libraries whose numerics the group and rank stages use: an upgrade may move a float a hair.
LIBRARIES = ("numpy", "scipy", "faiss-cpu", "opencv-python", "opencv-python-headless", "Pillow")


@lru_cache(maxsize=1)
def _libraries() -> str:
    """Python's and those libraries' versions (≈ 25 ms, once a process)."""
    from importlib import metadata

    out = [sys.version]
    for name in LIBRARIES:
        try:
            out.append(f"{name}={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(f"{name}=")
    return ";".join(out)


def eligible(ctx: ScanContext) -> bool:
    """Whether this scan may reuse (and remember) groups at all. ``LOOKALIKE_REUSE_GROUPS=0``
    always regroups (benchmarks that time the group and rank stages on a rescan)."""
    if os.environ.get("LOOKALIKE_REUSE_GROUPS", "1") == "0":
        return False
    return ctx.options.ml is None and ctx.options.content_rules is None


def _row(h: Any, r: FileRow) -> None:
    h.update(repr((r.id, os.fsencode(r.path), r.size, r.mtime_ns, r.fullhash, r.kind)).encode())


def fingerprint(ctx: ScanContext, ex: Exact) -> str:
    """Everything the group and rank stages read, hashed: options (but ``NOT_GROUPING``),
    versions and code (and the numeric libraries'), the roots as this scan resolved them, every representative and exact
    cluster (file id, path, size, time, hash, kind), the marks, the feature table's shape and
    the ``LOOKALIKE_*`` environment. The verifier's version is in the engine's source hash
    (importing features.verify loads OpenCV: 0.2 s of a rescan that decodes nothing)."""
    h = hashlib.blake2b(digest_size=20)
    h.update(settings_fingerprint(ctx).encode())
    for tag, rows in (("reps", ex.reps), ("videos", ex.video_reps)):
        h.update(tag.encode())
        for r in rows:
            _row(h, r)
    for rid in sorted(ex.cluster_of):
        h.update(f"cluster {rid}".encode())
        for r in ex.cluster_of[rid]:
            _row(h, r)
    h.update(repr(sorted(ex.marked)).encode())
    shape = ctx.cat.db.execute("SELECT COUNT(*), MAX(rowid), TOTAL(rowid) FROM features")
    h.update(repr(tuple(shape.fetchone())).encode())
    return h.hexdigest()


def settings_fingerprint(ctx: ScanContext) -> str:
    """The part of :func:`fingerprint` that is not about the files: options, versions, code,
    libraries, roots, the ``LOOKALIKE_*`` environment (group_parts.py compares it alone)."""
    h = hashlib.blake2b(digest_size=20)
    opts = dataclasses.replace(ctx.options, **{k: None for k in NOT_GROUPING})
    h.update(repr(opts).encode())
    h.update(repr((__version__, PERCEPTUAL_VERSION, RECHECK_VERSION)).encode())
    h.update(_engine_source().encode())
    h.update(_libraries().encode())
    h.update(repr((ctx.roots, ctx.listed, threshold_problem())).encode())
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith("LOOKALIKE_"))
    h.update(repr(env).encode())
    return h.hexdigest()


def _stored_hash(cat: Catalog) -> tuple[str, int]:
    """(hash of the stored group rows in order, their count)."""
    h, n = hashlib.blake2b(digest_size=20), 0
    for (data,) in cat.db.execute("SELECT data FROM groups ORDER BY ord"):
        h.update(data.encode() if isinstance(data, str) else data)
        h.update(b"\n")
        n += 1
    return h.hexdigest(), n


def stored_digest(cat: Catalog) -> list:
    """[hash of the stored group rows in order, their count] (group_parts.py's check)."""
    return list(_stored_hash(cat))


def stored(cat: Catalog, fp: str) -> dict | None:
    """The stored record when it was made for ``fp`` and the review is still what it stored."""
    row = cat.db.execute("SELECT value FROM meta WHERE key=?", (KEY,)).fetchone()
    if row is None:
        return None
    rec = json.loads(row[0])
    if rec.get("format") != FORMAT or rec.get("fingerprint") != fp:
        return None
    if list(_stored_hash(cat)) != rec["groups"]:
        return None
    return rec


def forget(cat: Catalog) -> None:
    """Drop the record before regrouping: a scan killed half way never leaves one behind."""
    with cat.transaction():
        cat.db.execute("DELETE FROM meta WHERE key=?", (KEY,))


class Recorder:
    """Watches the group and rank stages' events: what a reuse must send again."""

    def __init__(self, ctx: ScanContext) -> None:
        self.ctx = ctx
        self.errors = len(ctx.errors)
        self.stages = set(ctx.stats.seconds_by_stage)
        self.before: list[list] = []  # Notice / StageDone before the first group
        self.after: list[list] = []
        self.seen_group = False
        self.ok = True
        self.parts: Any = None  # the group stage's group_parts record writer, if any

    def watch(self, gen: Generator[Event, None, Any]) -> Generator[Event, None, Any]:
        try:
            while True:
                try:
                    ev = next(gen)
                except StopIteration as stop:
                    self.parts = getattr(stop.value, "remember_parts", None) or self.parts
                    return stop.value
                self._see(ev)
                yield ev
        finally:
            gen.close()

    def _see(self, ev: Event) -> None:
        out = self.after if self.seen_group else self.before
        if isinstance(ev, GroupFound):
            self.seen_group = True
        elif isinstance(ev, Notice):
            out.append(["notice", ev.message, ev.level])
        elif isinstance(ev, StageDone):
            out.append(["done", ev.stage, ev.count])
        elif not isinstance(ev, StageProgress):  # a file error, or an event not replayed
            self.ok = False

    def remember(self, cat: Catalog, fp: str, groups: ScanGroups) -> None:
        """Store the record after ``finish_scan``, when the review is exactly these groups."""
        if not self.ok or len(self.ctx.errors) != self.errors:
            return
        digest, n = _stored_hash(cat)
        if n != len(groups):  # the review kept groups of files outside this scan
            return
        rec = {
            "format": FORMAT,
            "fingerprint": fp,
            "groups": [digest, n],
            "before": self.before,
            "after": self.after,
            "stages": sorted(set(self.ctx.stats.seconds_by_stage) - self.stages),
        }
        with cat.transaction():
            cat.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (KEY, json.dumps(rec)))
        if self.parts is not None:
            self.parts(cat, [digest, n])


def _replayed(rec_events: list[list], start: float) -> Iterator[Event]:
    for kind, a, b in rec_events:
        if kind == "notice":
            yield Notice(a, b)
        else:
            yield StageDone(a, time.monotonic() - start, b)


def replay(
    ctx: ScanContext, rec: dict, spool: GroupSpool, checked: float
) -> Generator[Event, None, ScanGroups]:
    """The stored groups sent and spooled (their rows copied as stored) as the rank stage
    does, with the events the last full group + rank sent around them. The stages' seconds: "group" the check (from
    ``checked``, when the fingerprint began), the others the sending."""
    start = time.monotonic()
    ctx.stats.seconds_by_stage["group"] = start - checked
    yield from _replayed(rec["before"], start)
    stats = ctx.stats
    copied = spool.copy_stored(ctx.catalog_path)  # the rows as stored: none encoded again
    rows = ctx.cat.db.execute("SELECT data FROM groups ORDER BY ord")
    for n, (data,) in enumerate(rows):
        g = group_from_row(json.loads(data))
        group = Group(n + 1, g.tier, g.keep, g.reason, g.members)
        if not copied:
            spool.add(group)
        stats.groups_by_tier[group.tier] = stats.groups_by_tier.get(group.tier, 0) + 1
        stats.duplicate_files += len(group.members) - 1
        stats.bytes_to_free += group.bytes_to_free
        yield GroupFound(group)
    stats.groups = spool.count
    yield from _replayed(rec["after"], start)
    for stage in rec["stages"]:
        if stage != "group":
            ctx.timed(stage, start)
    return spool.done()


def finish(cat: Catalog, scan_id: int, stats: dict[str, Any]) -> None:
    """``Catalog.finish_scan`` of a scan that sent the stored groups: the stored review is
    already exactly them (``stored`` checked its rows' hash under the scan's lock), so it is
    not written again (deleting and inserting every row was ≈ 2.5 s of a 1 M rescan); only
    the scan's row is. Its rows keep the scan id that stored them: the review did not change
    (``plan_walk.review_stamp`` neither)."""
    with cat.transaction():
        cat.db.execute(
            "UPDATE scans SET finished=?, stats=? WHERE id=?",
            (time.time(), json.dumps(stats), scan_id),
        )
