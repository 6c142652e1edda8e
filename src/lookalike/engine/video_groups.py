"""Video groups from aligned pairs: ``same`` groups, ``clip`` relations, exact-only copies.

Kept apart from video_stage.py (sampling, caching, matching): this is the policy that turns
verdicts into what a reviewer sees. Every member of a group has a direct verdict against that
group's keeper (nothing is chained); a ``clip`` group is one container and the videos found
inside it, so a video can be a member of several clip groups.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from lookalike.engine.catalog import FileRow
from lookalike.engine.events import Event, Notice
from lookalike.engine.options import ScanOptions
from lookalike.engine.records import Member
from lookalike.engine.rules.keep import choose_keeper
from lookalike.engine.rules.video_evidence import video_encoding
from lookalike.engine.video_align import Match, Segment
from lookalike.engine.video_stage import VideoState

PADDED = 0.15  # share of samples without picture above which a video counts as padded
SHORTER = 0.95  # less picture than this share of the group's longest: trimmed or sped up
Built = tuple[str, str, str, list[Member]]  # tier, keeper path, reason, members


def video_member(
    r: FileRow, meta: dict, score: float, segments: tuple[dict, ...], shorter: bool = False
) -> Member:
    w, h = int(meta.get("width", 0)), int(meta.get("height", 0))
    content = meta.get("content") or [w, h]
    # edits the keeper's "original" rule counts: bars added, black frames padded in
    edits = [
        e
        for e, on in (
            ("letterboxed", meta.get("letterboxed")),
            ("black padding", float(meta.get("dropped", 0.0)) >= PADDED),
            ("shorter (trimmed or sped up)", shorter),
        )
        if on
    ]
    return Member(
        path=r.path,
        size=r.size,
        width=w,
        height=h,
        format=str(meta.get("format") or "VIDEO"),
        score=round(score, 4),
        mtime_ns=r.mtime_ns,
        thumb=meta.get("thumb"),
        content_hash=r.fullhash.hex() if r.fullhash else None,
        file_id=r.id,
        flags=tuple(edits),
        evidence={"content": content, "edits": edits, **video_encoding(meta, r.size)},
        duration=meta.get("duration"),
        fps=meta.get("fps"),
        codec=meta.get("codec"),
        segments=segments,
        strip=meta.get("strip"),
    )


def _segments_vs(m: Match, me: int) -> tuple[dict, ...]:
    """Segments with ``a`` = the file ``me`` and ``b`` = the other one (the keeper)."""
    segs: list[Segment] = [s if m.a == me else s.swapped() for s in m.segments]
    return tuple(s.to_json() for s in sorted(segs, key=lambda s: s.a_start))


def _clip_relations(
    matches: list[Match],
    pair: dict[tuple[int, int], Match],
    same_keeper: dict[int, int],
    length: Callable[[int], float],
) -> dict[int, list[int]]:
    """container → the videos found inside it, from the ``clip`` verdicts. A container in a
    ``same`` group hands its clips to that group's keeper when they matched it too (the
    keeper is then the one file the groups share), so copies of a compilation do not each
    repeat its pieces; a video never lists a copy of itself as a clip."""
    out: dict[int, set[int]] = defaultdict(set)
    for m in matches:
        if m.tier != "clip":
            continue
        small, big = (m.a, m.b) if (length(m.a), m.a) < (length(m.b), m.b) else (m.b, m.a)
        head = same_keeper.get(big, big)
        if head != big and ((small, head) not in pair or pair[(small, head)].tier == "partial"):
            head = big
        if same_keeper.get(small) is not None and same_keeper.get(small) == same_keeper.get(head):
            continue
        out[head].add(small)
    return {h: sorted(c) for h, c in out.items()}


class _Builder:
    """The groups of one scan, built in order: same, leftover copies, clips, exact copies."""

    def __init__(
        self,
        options: ScanOptions,
        state: VideoState,
        matches: list[Match],
        rows: dict[int, FileRow],
        cluster_of: dict[int, list[FileRow]],
    ) -> None:
        self.options, self.state, self.matches = options, state, matches
        self.rows, self.cluster_of = rows, cluster_of
        self.pair: dict[tuple[int, int], Match] = {}
        self.same_adj: dict[int, set[int]] = defaultdict(set)
        for m in matches:
            self.pair[(m.a, m.b)] = self.pair[(m.b, m.a)] = m
            if m.tier == "same":
                self.same_adj[m.a].add(m.b)
                self.same_adj[m.b].add(m.a)
        self.built: list[Built] = []
        self.grouped: set[int] = set()
        self.same_keeper: dict[int, int] = {}  # file → the keeper of its same group
        self.keeper_path: dict[int, str] = {}  # that keeper's file (one of its exact copies)
        self.ids = sorted(state.frames)

    def length(self, fid: int) -> float:
        """Seconds of picture (kept samples), so black padding does not count."""
        fr = self.state.frames[fid]
        return len(fr.times) * fr.step

    def members_of(self, rep_ids: list[int], keeper_rep: int | None) -> list[tuple[Member, int]]:
        longest = max(self.length(rid) for rid in rep_ids)
        out = []
        for rid in rep_ids:
            short = self.length(rid) < SHORTER * longest  # a trim or a speed-up: not the original
            meta = self.state.metas.get(rid, {})
            for r in self.cluster_of.get(rid, [self.rows[rid]]):
                if keeper_rep is None or rid == keeper_rep:
                    out.append((video_member(r, meta, 1.0, (), short), rid))
                else:
                    m = self.pair[(rid, keeper_rep)]
                    cover = m.cover_a if m.a == rid else m.cover_b
                    out.append((video_member(r, meta, cover, _segments_vs(m, rid), short), rid))
        return out

    def pick(self, reps: list[int]) -> tuple[int, str, str]:
        """The keeper among these videos by the keep rules: (its id, its file, the reason)."""
        cands = self.members_of(reps, None)
        o = self.options
        keeper, reason = choose_keeper(
            [m for m, _ in cands], o.keep_rules, o.reference, None, o.keep_overrides
        )
        return next(rid for m, rid in cands if m.path == keeper.path), keeper.path, reason

    def add_same(self, chosen: list[int], keeper: tuple[int, str, str]) -> None:
        """A same group: the keeper's video, and the others, each with a direct verdict."""
        krep, path, reason = keeper
        files = [m for m, _ in self.members_of(chosen, krep)]
        self.built.append(("same", path, f"video: {reason}", files))
        for c in chosen:
            self.same_keeper.setdefault(c, krep)
        self.grouped.update(chosen)
        self.keeper_path.setdefault(krep, path)

    def same_groups(self) -> None:
        """A component of ``same`` verdicts at a time; members need a direct verdict against
        the keeper. A copy whose verdicts all point into a group built around another keeper
        (its own verdict with that keeper fell short) is grouped with its closest copy."""
        adj = self.same_adj
        for start in self.ids:
            if start in self.grouped or not adj[start]:
                continue
            comp, todo = set(), [start]
            while todo:
                x = todo.pop()
                if x not in comp and x not in self.grouped:
                    comp.add(x)
                    todo.extend(adj[x] - comp)
            while len(comp) > 1:
                keeper = self.pick(sorted(comp))
                chosen = [keeper[0]] + sorted(comp & adj[keeper[0]])
                if len(chosen) < 2:
                    comp.discard(keeper[0])
                    continue
                self.add_same(chosen, keeper)
                comp -= set(chosen)
        for fid in self.ids:
            if fid in self.grouped or not adj[fid]:
                continue
            near = max(sorted(adj[fid]), key=lambda o: self._closeness(fid, o))
            self.add_same([fid, near], self.pick([fid, near]))

    def _closeness(self, a: int, b: int) -> float:
        m = self.pair[(a, b)]
        return min(m.cover_a, m.cover_b)

    def clip_groups(self) -> None:
        """One group per container, holding every shorter video with a direct clip verdict
        against it: a video inside two compilations is in both, a compilation keeps all its
        pieces; nothing is chained (each member was aligned with that keeper)."""
        relations = _clip_relations(self.matches, self.pair, self.same_keeper, self.length)
        for head, clips in sorted(relations.items()):
            files = [m for m, _ in self.members_of([head, *clips], head)]
            keep = self.keeper_path.get(head, self.rows[head].path)
            reason = "video: the longer video, which contains the others"
            self.built.append(("clip", keep, reason, files))
            self.grouped.update([head, *clips])

    def exact_groups(self, reps: list[FileRow]) -> None:
        """Exact copies of a video that matched nothing else."""
        o = self.options
        for r in reps:
            if r.id not in self.grouped and r.id in self.cluster_of:
                files = [m for m, _ in self.members_of([r.id], None)]
                keeper, reason = choose_keeper(
                    files, o.keep_rules, o.reference, None, o.keep_overrides
                )
                self.built.append(("exact", keeper.path, reason, files))
                self.grouped.add(r.id)


def build_groups(
    options: ScanOptions,
    state: VideoState,
    matches: list[Match],
    rows: dict[int, FileRow],
    cluster_of: dict[int, list[FileRow]],
    reps: list[FileRow],
) -> tuple[list[Built], list[Event]]:
    """(tier, keeper path, reason, members) per video group, and notices (partial overlaps).

    ``same`` groups hold files with a direct ``same`` verdict against the keeper; ``clip``
    groups hold the longer video as keeper and every video found inside it (a video may be a
    clip of several containers, and a container a clip of a longer one: each clip group is
    one container and its direct verdicts); partial overlaps are only counted.
    """
    b = _Builder(options, state, matches, rows, cluster_of)
    b.same_groups()
    b.clip_groups()
    b.exact_groups(reps)
    notices: list[Event] = []
    partial = sum(1 for m in matches if m.tier == "partial")
    if partial:
        notices.append(
            Notice(
                f"{partial} video pair(s) share only part of their footage (an intro, a scene): "
                "not grouped"
            )
        )
    for _tier, _keep, _reason, files in b.built:
        files.sort(key=lambda m: m.path)
    return b.built, notices
