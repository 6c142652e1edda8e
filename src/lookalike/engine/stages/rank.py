"""Stage 6, rank: verified groups of representatives → groups of files with a keeper.

Each representative brings its exact copies back in; the keeper is chosen on evidence of
originality then the user's keep rules (rules/); every other file gets its flags and its
similarity to the keeper. A "same" group of a shooting session's frames (camera originals
taken at different times, or three unedited JPEGs of one size and one quality) becomes
"similar" there (rules/sessions.py). With ``--model`` verified embedding neighbours join "same" and form
the "similar" tier (ml_groups.py); videos build their own groups (video_stage.py).
From ``rank_pool.MIN_GROUPS`` groups on, a local pool's workers judge them (evidence, keeper,
flags: rank_pool.py) while the driver scores, stores and sends those before them. Every
member of a "same" group must be a verified copy of its keeper (keeper_check.py); a group
whose members are not splits: those that are stay with the keeper, the rest are grouped
again on their own, the same way.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Iterator
from typing import Any

from lookalike.engine.catalog import FileRow
from lookalike.engine.events import Event, GroupFound
from lookalike.engine.group_parts import item_keys, stored_group
from lookalike.engine.item_table import keys_paths
from lookalike.engine.keeper_check import KeeperCheck
from lookalike.engine.rank_pool import Farm, Judged, Rules, judge, member_of
from lookalike.engine.records import Group, Member, member_with
from lookalike.engine.scan_groups import GroupSpool
from lookalike.engine.stages.context import Progress, ScanContext
from lookalike.engine.stages.diff import Diffed
from lookalike.engine.stages.exact import Exact
from lookalike.engine.stages.group import Grouped
from lookalike.engine.thumb_remake import kept_members

Built = tuple[str, str, str, list[Member]]  # tier, keeper path, reason, members
AHEAD_GROUPS = 64  # groups whose metas are read together (_Ranker.ahead)
AHEAD_IDS = 2048  # ... at most this many representatives (the metas' cache holds 4096)
log = logging.getLogger(__name__)


def _raw_groups(gr: Grouped, ex: Exact) -> list[tuple[str, list[int]]]:
    """(tier, representative ids): hash groups are "same"; an exact cluster that joined no
    group is "exact" on its own (videos build their own groups)."""
    in_same: set[int] = set()
    raw: list[tuple[str, list[int]]] = []
    keys = item_keys(gr.items)  # the table's column: an Item per member would build its views
    for g in gr.clustering.groups:
        ids = [keys[n] for n in g]
        in_same.update(ids)
        raw.append(("same", ids))
    video_ids = {r.id for r in ex.video_reps}
    redo = gr.part.rebuilt if gr.part is not None else None  # only part regrouped
    raw.extend(
        ("exact", [rid])
        for rid in ex.cluster_of
        if rid not in in_same and rid not in video_ids and (redo is None or rid in redo)
    )
    return raw


def _with_ml(ctx: ScanContext, ml_state: Any, gr: Grouped, ex: Exact, raw: list) -> Iterator[Event]:
    """ml: verified embedding neighbours join "same"; the "similar" tier. Returns the raw
    groups merged."""
    from lookalike.engine import ml_groups

    t_ml = time.monotonic()
    reps = ex.reps
    yield from ml_groups.edges(
        ml_state,
        {r.id: r.path for r in reps},
        [ids for t, ids in raw if t == "same"],
        gr.forbidden,
        ctx.options.workers,
        ctx.cancel,
        ctx.cat,
        {r.id: f"{r.size}:{r.mtime_ns}" for r in reps},
    )
    merged = ml_groups.merge(ml_state, raw, [r.id for r in reps])
    ctx.timed("verify", t_ml)
    return merged


class _Ranker:
    """Builds one group at a time: members, evidence, keeper, flags, scores."""

    def __init__(self, ctx: ScanContext, gr: Grouped, ex: Exact, rows: dict, ml_state: Any):
        self.ctx, self.gr, self.ex, self.rows, self.ml = ctx, gr, ex, rows, ml_state
        self.item_index = {k: n for n, k in enumerate(item_keys(gr.items))}  # no Item built
        self.view_cache: dict[int, list | None] = {}
        o = ctx.options
        self.rules = Rules(o.keep_rules, o.reference, o.keep_overrides)
        match, recheck = gr.clustering.match, gr.recheck
        self.check = (  # --model's groups verify their units' pairs themselves (ml_groups.py)
            KeeperCheck(match, recheck, self.item_index, keys_paths(gr.items)[1])
            if ml_state is None and match is not None and recheck is not None
            else None
        )

    def ahead(self, todos: list[tuple[str, list[int]]]) -> None:
        """The metas of the next groups' representatives in one query, not one a group (a
        query costs about as much as reading the rows of several groups)."""
        if (prefetch := getattr(self.gr.metas, "prefetch", None)) is not None:
            built = self.gr.built  # groups sent as stored read no metas
            want = [ids for tier, ids in todos if not built or (tier, frozenset(ids)) not in built]
            prefetch([rid for ids in want for rid in ids][:AHEAD_IDS])

    def views_of(self, rep_id: int) -> list | None:
        if rep_id not in self.view_cache:
            self.view_cache[rep_id] = self.gr.views_of(rep_id)
        return self.view_cache[rep_id]

    def _quality(self, files: list[tuple[Member, int]]) -> dict[str, float]:
        """ml: quality score for the "quality" keep rule."""
        q = self.ml.quality
        return {f"quality:{m.path}": float(q.get(rid, {}).get("score", 0.0)) for m, rid in files}

    def _score(self, tier: str, rid: int, keep_rep: int) -> float:
        if rid == keep_rep:
            return 1.0
        a, b = self.item_index.get(rid), self.item_index.get(keep_rep)
        score = self.gr.clustering.sim(a, b) if a is not None and b is not None else 0.0
        if self.ml is not None and tier == "similar":  # ml: cosine to keeper
            from lookalike.engine import ml_groups

            score = ml_groups.scores_for(self.ml, keep_rep, [rid]).get(rid, score)
        return score

    def files_of(self, rid: int) -> list[FileRow]:
        """A representative's files: its exact cluster, or itself."""
        return self.ex.cluster_of.get(rid, [self.rows[rid]])

    def judge(self, tier: str, rep_ids: list[int]) -> Judged:
        """One group judged here, on the driver (rank_pool.judge)."""
        metas = self.gr.metas
        if (prefetch := getattr(metas, "prefetch", None)) is not None:
            prefetch(rep_ids)
        files = [
            (member_of(r, metas.get(rid, {})), rid) for rid in rep_ids for r in self.files_of(rid)
        ]
        more = self._quality if self.ml is not None else None
        return judge(tier, files, metas, self.views_of, self.rules, more)

    def judge_all(self, todos: list[tuple[str, list[int]]]) -> list[Judged]:
        """Several groups judged here, their metas read together."""
        self.ahead(todos)
        return [self.judge(tier, ids) for tier, ids in todos]

    def build(self, tier: str, rep_ids: list[int], judged: Judged | None = None) -> list[Built]:
        """The group ready to send: as stored when nothing in it changed, else judged (here
        unless ``judged`` came from a worker) and scored against its keeper. A "same" group
        some of whose members are not verified copies of the keeper (keeper_check.py) is
        sent as the groups it splits into: the rest with the keeper, those members grouped
        again among themselves (each such group checked the same way against its own
        keeper; one left alone is no group, or "exact" with its byte-identical copies)."""
        at = self.gr.built.get((tier, frozenset(rep_ids)))
        if at is not None:  # the same files as a stored group, none changed: as stored
            g = stored_group(self.ctx.cat, at)
            return [(g.tier, g.keep, g.reason, list(g.members))]
        j = judged if judged is not None else self.judge(tier, rep_ids)
        if self.check is not None and j.tier == "same":
            strays = self.check.strays(j.rids, j.keep_rep)
            if strays:
                self.check.counts.split.append(len(rep_ids))
                kept = [r for r in rep_ids if r not in strays]
                rest = [r for r in rep_ids if r in strays]
                return self._regrouped(kept) + self._regrouped(rest)
        scored = [
            member_with(m, score=round(self._score(tier, rid, j.keep_rep), 4))
            for m, rid in zip(j.members, j.rids, strict=True)
        ]
        return [(j.tier, j.keep, j.reason, scored)]  # scored as grouped, in ``tier``

    def _regrouped(self, rep_ids: list[int]) -> list[Built]:
        """Part of a split "same" group, built on its own (see ``build``)."""
        if len(rep_ids) >= 2:
            return self.build("same", rep_ids)
        if len(self.files_of(rep_ids[0])) >= 2:
            return self.build("exact", rep_ids)
        return []


def _video_groups(
    ctx: ScanContext, gr: Grouped, ex: Exact, rows: dict, ml_state: Any
) -> Iterator[Event]:
    """videos: aligned pairs → same / clip groups (video_groups.py); returns them built.
    With ``--model`` the frames' embeddings (``ml_state.version``) can raise a verdict."""
    from lookalike.engine import video_groups, video_stage

    t_video = time.monotonic()
    version = getattr(ml_state, "version", None)
    state = video_stage.load(ctx.cat, ex.video_reps, version)
    matches = video_stage.match(ctx.options, state, gr.forbidden, ctx.cat)
    built, notes = video_groups.build_groups(
        ctx.options, state, matches, rows, ex.cluster_of, ex.video_reps
    )
    yield from notes
    ctx.stats.seconds_by_stage["video"] = ctx.stats.seconds_by_stage.get("video", 0.0) + (
        time.monotonic() - t_video
    )
    return built


def _farm(
    ctx: ScanContext, gr: Grouped, pending: list, ranker: _Ranker, ml_state: Any
) -> Farm | None:
    """The groups to judge on the pool's workers (rank_pool.py), or None: all judged here."""
    todo = [
        (n, p[1][0], p[1][1])
        for n, p in enumerate(pending)
        if p[1] is not None and (p[1][0], frozenset(p[1][1])) not in gr.built
    ]
    return (
        Farm(ctx, todo, ranker.files_of, ranker.judge_all)
        if Farm.wanted(ctx, ml_state, todo)
        else None
    )


def _first_path(ex: Exact, rows: dict, rep_ids: list[int]) -> str:
    """The path a built group will list first (its members are sorted by path), known before
    the group is built, so groups can be ordered first and built (and sent) one at a time."""
    return min(r.path for rid in rep_ids for r in ex.cluster_of.get(rid, [rows[rid]]))


def _sent(built: Built, spool: GroupSpool, stats: Any) -> GroupFound:
    """A built group numbered, written to the spool and counted."""
    tier, keep, reason, scored = built
    group = Group(spool.count + 1, tier, keep, reason, tuple(scored))
    spool.add(group)  # on disk, not in a list: the driver holds one group at a time
    stats.groups_by_tier[tier] = stats.groups_by_tier.get(tier, 0) + 1
    stats.duplicate_files += len(scored) - 1
    stats.bytes_to_free += group.bytes_to_free
    return GroupFound(group)


def _kept_checks(ctx: ScanContext, gr: Grouped, check: KeeperCheck | None) -> None:
    """The keeper checks' new pixel verdicts remembered (a rescan decodes nothing)."""
    if check is None or not check.counts.groups:
        return
    gr.keep_rechecks()
    c = check.counts
    log.info(
        "keeper check: %d groups, %d pairs (%d near-exact, %d known, %d fresh), %d strays",
        c.groups, c.pairs, c.near_exact, c.known, c.fresh, c.strays,
    )  # fmt: skip


def rank(
    ctx: ScanContext, gr: Grouped, ex: Exact, diffed: Diffed, ml_state: Any, spool: GroupSpool
) -> Iterator[Event]:
    """Grouped representatives → the scan's groups (yielded as GroupFound and written to
    ``spool``; returns the spool's ``ScanGroups``), in a deterministic order: by the first
    member's path.

    Each group is yielded as soon as it is built (its place in the order is known from its
    files alone), so ``--format jsonl``/``json`` write the first group while later ones are
    still being ranked; video groups come out of their matcher built, and are merged in."""
    prog = Progress("rank", None)
    raw = _raw_groups(gr, ex)
    if ml_state is not None:
        raw = yield from _with_ml(ctx, ml_state, gr, ex, raw)
    rows = diffed.rows
    ranker = _Ranker(ctx, gr, ex, rows, ml_state)
    pending: list[tuple[str, tuple[str, list[int]] | None, Built | None]] = [
        (_first_path(ex, rows, ids), (tier, ids), None) for tier, ids in raw
    ]
    del raw
    if ex.video_reps:
        videos = yield from _video_groups(ctx, gr, ex, rows, ml_state)
        pending.extend((b[3][0].path, None, b) for b in videos)
    if gr.part is not None:  # the stored groups no change touched, as they were
        pending.extend(
            (
                min(m.path for m in g.members),
                None,
                (g.tier, g.keep, g.reason, kept_members(g.members)),
            )
            for g in gr.part.kept
        )
    pending.sort(key=lambda p: p[0])  # stable: the order the groups had when built first
    stats = ctx.stats
    farm = _farm(ctx, gr, pending, ranker, ml_state)
    ready: list[tuple[str, int, Built]] = []  # built, by first path: a split's parts wait
    for n in range(len(pending)):
        if farm is None and n % AHEAD_GROUPS == 0:
            ranker.ahead([p[1] for p in pending[n : n + AHEAD_GROUPS] if p[1] is not None])
        _, todo, built = pending[n]
        pending[n] = ("", None, None)  # the entry is done with: nothing kept twice
        if built is None and todo is not None:
            parts = ranker.build(*todo, farm.take(n) if farm is not None else None)
        else:
            parts = [built]  # type: ignore[list-item]
        for b in parts:
            heapq.heappush(ready, (min(m.path for m in b[3]), n, b))
        upto = pending[n + 1][0] if n + 1 < len(pending) else None
        while ready and (upto is None or ready[0][0] < upto):
            yield _sent(heapq.heappop(ready)[2], spool, stats)
    _kept_checks(ctx, gr, ranker.check)
    stats.groups = spool.count
    yield prog.done(spool.count)
    ctx.timed("rank", prog.start)
    return spool.done()
