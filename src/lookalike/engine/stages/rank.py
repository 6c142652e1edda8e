"""Stage 6, rank: verified groups of representatives → groups of files with a keeper.

Each representative brings its exact copies back in; the keeper is chosen on evidence of
originality then the user's keep rules (rules/); every other file gets its flags and its
similarity to the keeper. With ``--model`` verified embedding neighbours join "same" and form
the "similar" tier (ml_groups.py); videos build their own groups (video_stage.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from lookalike.engine.catalog import FileRow
from lookalike.engine.events import Event, GroupFound
from lookalike.engine.group_parts import item_keys, stored_group
from lookalike.engine.records import Group, Member, member_with
from lookalike.engine.rules.evidence import with_evidence, with_flags
from lookalike.engine.rules.keep import choose_keeper, with_others
from lookalike.engine.scan_groups import GroupSpool
from lookalike.engine.stages.context import Progress, ScanContext
from lookalike.engine.stages.diff import Diffed
from lookalike.engine.stages.exact import Exact
from lookalike.engine.stages.group import Grouped

Built = tuple[str, str, str, list[Member]]  # tier, keeper path, reason, members
AHEAD_GROUPS = 64  # groups whose metas are read together (_Ranker.ahead)
AHEAD_IDS = 2048  # ... at most this many representatives (the metas' cache holds 4096)


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


def _member(r: FileRow, m: dict) -> Member:
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
        thumb=m.get("thumb"),
        content_hash=r.fullhash.hex() if r.fullhash else None,
        file_id=r.id,
    )


class _Ranker:
    """Builds one group at a time: members, evidence, keeper, flags, scores."""

    def __init__(self, ctx: ScanContext, gr: Grouped, ex: Exact, rows: dict, ml_state: Any):
        self.ctx, self.gr, self.ex, self.rows, self.ml = ctx, gr, ex, rows, ml_state
        self.item_index = {k: n for n, k in enumerate(item_keys(gr.items))}  # no Item built
        self.view_cache: dict[int, list | None] = {}

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

    def _extra(self, files: list[tuple[Member, int]]) -> dict[str, float]:
        metas = self.gr.metas
        extra = {
            f"exif:{m.path}": float(metas.get(rid, {}).get("exif_fields", 0)) for m, rid in files
        }
        if self.ml is not None:  # ml: quality score for the "quality" keep rule
            q = self.ml.quality
            extra.update(
                {f"quality:{m.path}": float(q.get(rid, {}).get("score", 0.0)) for m, rid in files}
            )
        return extra

    def _score(self, tier: str, rid: int, keep_rep: int) -> float:
        if rid == keep_rep:
            return 1.0
        a, b = self.item_index.get(rid), self.item_index.get(keep_rep)
        score = self.gr.clustering.sim(a, b) if a is not None and b is not None else 0.0
        if self.ml is not None and tier == "similar":  # ml: cosine to keeper
            from lookalike.engine import ml_groups

            score = ml_groups.scores_for(self.ml, keep_rep, [rid]).get(rid, score)
        return score

    def build(self, tier: str, rep_ids: list[int]) -> Built:
        at = self.gr.built.get((tier, frozenset(rep_ids)))
        if at is not None:  # the same files as a stored group, none changed: as stored
            g = stored_group(self.ctx.cat, at)
            return g.tier, g.keep, g.reason, list(g.members)
        opts, metas = self.ctx.options, self.gr.metas
        if (prefetch := getattr(metas, "prefetch", None)) is not None:
            prefetch(rep_ids)
        files = [
            (_member(r, metas.get(rid, {})), rid)
            for rid in rep_ids
            for r in self.ex.cluster_of.get(rid, [self.rows[rid]])
        ]
        files.sort(key=lambda x: x[0].path)
        copies = tier != "similar"
        members = with_evidence(files, metas, self.views_of, copies=copies)
        keeper, reason = choose_keeper(
            members, opts.keep_rules, opts.reference, self._extra(files), opts.keep_overrides
        )
        keep_rep = next(rid for m, rid in files if m.path == keeper.path)
        members = with_flags(members, keeper, copies=copies)
        reason = with_others(reason, keeper.path, members)
        scored = [
            member_with(m, score=round(self._score(tier, rid, keep_rep), 4))
            for m, (_, rid) in zip(members, files, strict=True)
        ]
        return tier, keeper.path, reason, scored


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


def _first_path(ex: Exact, rows: dict, rep_ids: list[int]) -> str:
    """The path a built group will list first (its members are sorted by path), known before
    the group is built, so groups can be ordered first and built (and sent) one at a time."""
    return min(r.path for rid in rep_ids for r in ex.cluster_of.get(rid, [rows[rid]]))


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
            (min(m.path for m in g.members), None, (g.tier, g.keep, g.reason, list(g.members)))
            for g in gr.part.kept
        )
    pending.sort(key=lambda p: p[0])  # stable: the order the groups had when built first
    stats = ctx.stats
    for n in range(len(pending)):
        if n % AHEAD_GROUPS == 0:
            ranker.ahead([p[1] for p in pending[n : n + AHEAD_GROUPS] if p[1] is not None])
        _, todo, built = pending[n]
        pending[n] = ("", None, None)  # the entry is done with: nothing kept twice
        tier, keep, reason, scored = built if built is not None else ranker.build(*todo)
        group = Group(n + 1, tier, keep, reason, tuple(scored))
        spool.add(group)  # on disk, not in a list: the driver holds one group at a time
        stats.groups_by_tier[tier] = stats.groups_by_tier.get(tier, 0) + 1
        stats.duplicate_files += len(scored) - 1
        stats.bytes_to_free += group.bytes_to_free
        yield GroupFound(group)
    stats.groups = spool.count
    yield prog.done(spool.count)
    ctx.timed("rank", prog.start)
    return spool.done()
