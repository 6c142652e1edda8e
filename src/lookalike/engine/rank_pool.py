"""The rank stage's judging of groups on the decode pool's workers (issue 13).

Why: after grouping, the rank stage ran on the driver alone while the other core sat idle;
judging a group (its members' evidence, the keeper, the flags: ``judge``) is most of the
stage and needs nothing the driver holds but the group's file rows: a worker reads the
representatives' metas and signatures from the catalog itself (read-only; the driver writes
nothing there while it ranks). The driver sends the groups a window at a time, a few
windows ahead, and meanwhile scores, stores and yields the groups before them, in their
order, so the output is the same whatever the timing. A window a worker fails on is judged
on the driver (the same code, the same answer).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from lookalike.engine.records import Member
from lookalike.engine.rules.evidence import with_evidence, with_flags
from lookalike.engine.rules.keep import choose_keeper, with_others
from lookalike.engine.rules.sessions import session_reason
from lookalike.engine.thumb_remake import member_thumb

log = logging.getLogger(__name__)
WINDOW = 64  # groups a task (the worker reads their metas and signatures in two queries)
IN_FLIGHT = 4  # windows sent ahead of the one the driver waits for
STEAL_AHEAD = 16 * WINDOW  # groups the driver may hold judged ahead while it waits
MIN_GROUPS = 2000  # fewer groups to judge: the driver judges them (a window is no gain there)


class Row(NamedTuple):
    """What a member's ``Member`` is built from (a ``FileRow``'s fields that it reads)."""

    id: int
    path: str
    size: int
    mtime_ns: int
    kind: str | None
    fullhash: bytes | None


class Rules(NamedTuple):
    """The scan's keep rules, as ``choose_keeper`` takes them."""

    keep_rules: tuple[str, ...]
    reference: tuple[Path, ...]
    keep_overrides: tuple[tuple[Path, tuple[str, ...]], ...]


class Judged(NamedTuple):
    """A group judged, before its similarity scores: members sorted by path, each member's
    representative id, the keeper's path, the reason, the keeper's representative and the
    tier (a "same" group of a session's frames becomes "similar": rules/sessions.py)."""

    keep: str
    reason: str
    members: list[Member]
    rids: list[int]
    keep_rep: int
    tier: str


def member_of(r: Any, m: dict) -> Member:
    """One file of a group (a ``FileRow`` or a ``Row``) with its representative's meta; its
    thumbnail's file is made from the worker's pack if it is not there (thumb_pack.py: only
    the members of groups get one), or from the photo if the cache lost both
    (thumb_remake.py)."""
    return Member(
        path=r.path,
        size=r.size,
        width=m.get("width", 0),
        height=m.get("height", 0),
        format=m.get("format") or (r.kind or "?").upper(),
        score=1.0,
        mtime_ns=r.mtime_ns,
        capture_time=m.get("capture_time"),
        camera=m.get("camera"),
        thumb=member_thumb(m, r.path),
        content_hash=r.fullhash.hex() if r.fullhash else None,
        file_id=r.id,
    )


def _judged(
    files: list[tuple[Member, int]],
    metas: Mapping[int, dict],
    views_of: Callable[[int], Sequence[Any] | None],
    rules: Rules,
    extra: dict[str, float],
    copies: bool,
) -> tuple[list[Member], Member, str]:
    """The members with their evidence and flags, the keeper and its reason (``copies``:
    judged as copies of one photo, else as look-alike shots)."""
    members = with_evidence(files, metas, views_of, copies=copies)  # type: ignore[arg-type]
    keeper, reason = choose_keeper(
        members, rules.keep_rules, rules.reference, extra, rules.keep_overrides
    )
    return with_flags(members, keeper, copies=copies), keeper, reason


def judge(
    tier: str,
    files: list[tuple[Member, int]],
    metas: Mapping[int, dict],
    views_of: Callable[[int], Sequence[Any] | None],
    rules: Rules,
    more: Callable[[list[tuple[Member, int]]], dict[str, float]] | None = None,
) -> Judged:
    """Evidence, keeper, reason and flags of one group (``files``: (member, representative
    id)); ``more`` adds per-path numbers for the keep rules (``--model``'s quality). A
    "same" group that is a session's frames is judged again as look-alike shots."""
    files.sort(key=lambda x: x[0].path)
    extra = {f"exif:{m.path}": float(metas.get(rid, {}).get("exif_fields", 0)) for m, rid in files}
    if more is not None:
        extra.update(more(files))
    rids = [rid for _, rid in files]
    members, keeper, reason = _judged(files, metas, views_of, rules, extra, tier != "similar")
    shots = None
    if tier == "same":
        provs = [metas.get(r, {}).get("prov") for r in rids]
        shots = session_reason(members, rids, provs, views_of)
    if shots:  # frames of a session: look-alike shots, judged as such
        tier = "similar"
        members, keeper, reason = _judged(files, metas, views_of, rules, extra, False)
    keep_rep = next(rid for m, rid in files if m.path == keeper.path)
    reason = with_others(reason, keeper.path, members)
    if shots:
        reason = f"{reason}; {shots}"
    return Judged(keeper.path, reason, members, rids, keep_rep, tier)


# -- the worker's side ----------------------------------------------------------------------
_DBS: dict[str, sqlite3.Connection] = {}


def _db(catalog: str) -> sqlite3.Connection:
    """This worker's read-only connection to the catalog (one a catalog, kept while the
    worker lives: the pool is the scan's)."""
    db = _DBS.get(catalog)
    if db is None:
        db = sqlite3.connect(Path(catalog).absolute().as_uri() + "?mode=ro", uri=True, timeout=60)
        _DBS[catalog] = db
    return db


Task = tuple[str, bool, Rules, list[tuple[str, list[tuple[int, list[Row]]]]]]


def judge_window(task: Task) -> list[Judged]:
    """A worker's task: a window of groups (tier, [(representative, its files)]) judged,
    the representatives' metas and signatures read from the catalog."""
    import json

    from lookalike.engine.catalog import features_of
    from lookalike.engine.features.extract import PERCEPTUAL_VERSION, unpack_views
    from lookalike.engine.stages.extract import META, PERCEPT

    catalog, same, rules, groups = task
    db = _db(catalog)
    rids = [rid for _, reps in groups for rid, _ in reps]
    metas = {k: json.loads(v) for k, v in features_of(db, META, PERCEPTUAL_VERSION, rids).items()}
    packed = features_of(db, PERCEPT, PERCEPTUAL_VERSION, rids) if same else {}

    def views_of(rid: int) -> list | None:  # as the grouper's table holds them: float16
        data = packed.get(rid)
        return unpack_views(data, float16=True) if data else None

    return [
        judge(
            tier,
            [(member_of(r, metas.get(rid, {})), rid) for rid, rows in reps for r in rows],
            metas,
            views_of,
            rules,
        )
        for tier, reps in groups
    ]


# -- the driver's side ----------------------------------------------------------------------
def _row(r: Any) -> Row:
    return Row(r.id, r.path, r.size, r.mtime_ns, r.kind, r.fullhash)


Todo = tuple[int, str, list[int]]  # a group's place in the order, its tier, representatives


class Farm:
    """The groups to judge (``todo``), sent to the pool a window at a time as the driver
    comes near them. While the driver waits for a window it judges the next one not sent
    yet itself (``here``: [(tier, representatives)] → judged), so a slow or still starting
    worker costs no idle driver, and nothing is judged twice."""

    def __init__(
        self,
        ctx: Any,
        todo: list[Todo],
        files_of: Callable[[int], list[Any]],
        here: Callable[[list[tuple[str, list[int]]]], list[Judged]],
    ) -> None:
        o = ctx.options
        self.pool, self.files_of, self.here = ctx.pool, files_of, here
        rules = Rules(o.keep_rules, o.reference, o.keep_overrides)
        self.head = (os.path.abspath(ctx.catalog_path), bool(o.same), rules)
        self.windows = [todo[i : i + WINDOW] for i in range(0, len(todo), WINDOW)]
        self.window_of = {n: w for w, win in enumerate(self.windows) for n, _, _ in win}
        self.sent: set[int] = set()
        self.arrived: dict[int, list[Judged] | BaseException] = {}
        self.ready = threading.Condition()
        self.got: dict[int, Judged] = {}
        self.next = 0  # the next window to send (or judge here)
        self.failed = False  # a worker failed: nothing more is sent
        self._send(IN_FLIGHT)

    @staticmethod
    def wanted(ctx: Any, ml_state: Any, todo: list) -> bool:
        """Worth it: a local pool of several workers, no ``--model`` (its quality scores
        live on the driver), enough groups."""
        from lookalike.engine.pool import DecodePool

        pool = ctx.pool
        return (
            isinstance(pool, DecodePool)
            and pool.workers > 1
            and ml_state is None
            and len(todo) >= MIN_GROUPS
        )

    def _arrive(self, w: int) -> Callable[[Any], None]:
        def done(result: Any) -> None:  # on the pool's result thread
            with self.ready:
                if w in self.sent:  # else the driver judged it meanwhile
                    self.arrived[w] = result
                    self.ready.notify_all()

        return done

    def _send(self, upto: int) -> None:
        while not self.failed and self.next < min(upto, len(self.windows)):
            w, self.next = self.next, self.next + 1
            groups = [
                (tier, [(rid, [_row(r) for r in self.files_of(rid)]) for rid in ids])
                for _, tier, ids in self.windows[w]
            ]
            self.sent.add(w)
            self.pool.apply(judge_window, (*self.head, groups), self._arrive(w))

    def _judge_next_here(self) -> bool:
        """The next window not sent, judged on the driver (False: none left, or enough
        judged ahead already)."""
        if self.next >= len(self.windows) or len(self.got) >= STEAL_AHEAD:
            return False
        win, self.next = self.windows[self.next], self.next + 1
        judged = self.here([(tier, ids) for _, tier, ids in win])
        self.got.update((k, j) for (k, _, _), j in zip(win, judged, strict=True))
        return True

    def _wait(self, w: int) -> None:
        """Until window ``w`` is back, judging later windows here meanwhile; with none left
        to judge, the driver judges ``w`` too (the worker's answer is then dropped: a
        worker still starting, or slowed by other load, never holds the driver up)."""
        while True:
            with self.ready:
                result = self.arrived.pop(w, None)
            if result is not None or not self._judge_next_here():
                break
        with self.ready:
            self.sent.discard(w)  # an answer still to come is dropped
            result = result if result is not None else self.arrived.pop(w, None)
        if result is None or isinstance(result, BaseException):
            if result is not None:
                log.warning("rank: a worker failed (%r); the driver judges the groups", result)
                self.failed = True
            result = self.here([(tier, ids) for _, tier, ids in self.windows[w]])
        self.got.update((k, j) for (k, _, _), j in zip(self.windows[w], result, strict=True))

    def take(self, n: int) -> Judged | None:
        """Group ``n`` judged (by a worker, or here while waiting); None: not the farm's."""
        w = self.window_of.pop(n, None)
        if w is None or n in self.got:
            return self.got.pop(n, None)
        self._send(w + 1 + IN_FLIGHT)
        if w in self.sent:
            self._wait(w)
        return self.got.pop(n, None)
