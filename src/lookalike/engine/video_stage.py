"""The scan's video stage: sample new videos (cached in the catalog), align, build groups.

Kept apart from pipeline.py so the photo path stays readable; the pipeline calls ``extract``
after the photo decode (same worker pool) and ``build_groups`` next to the photo groups.
A video's probe and frame signatures are stored per file with the step they were sampled at:
an unchanged video is never decoded again unless ``--video-step`` changes.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import xxhash

from lookalike.engine.catalog import Catalog, FileRow
from lookalike.engine.events import Event, Notice, StageDone, StageProgress
from lookalike.engine.features.video_sig import (
    VIDEO_FRAMES,
    VIDEO_META,
    VIDEO_VERSION,
    VideoFrames,
    video_task,
)
from lookalike.engine.media.sniff import VIDEO
from lookalike.engine.options import ScanOptions
from lookalike.engine.pool import DecodePool
from lookalike.engine.records import FileError, Member
from lookalike.engine.rules.keep import choose_keeper
from lookalike.engine.rules.video_evidence import video_encoding
from lookalike.engine.video_align import FRAME_RADIUS, Match, Segment, Timeline, match_videos

MATCH_STATE = "video_matches"  # catalog state: the last scan's verdicts and what they came from
MATCH_VERSION = 1  # bump when video_align changes its verdicts
PADDED = 0.15  # share of samples without picture above which a video counts as padded
SHORTER = 0.95  # less picture than this share of the group's longest: trimmed or sped up


@dataclass
class VideoState:
    """What the grouping needs: probe metadata and frames per representative file id."""

    metas: dict[int, dict]
    frames: dict[int, VideoFrames]


def _asked(options: ScanOptions) -> float | None:
    return options.video_step


def extract(
    options: ScanOptions,
    cat: Catalog,
    reps: list[FileRow],
    thumb_path: Callable[[FileRow], str | None],
    pool: DecodePool,
    cancel: threading.Event,
    on_error: Callable[[FileError], None],
) -> Iterator[Event]:
    """Sample the videos that have no current signatures (or were sampled at another step);
    results go to the catalog, errors to ``on_error``."""
    ids = [r.id for r in reps]
    have = cat.load_features(VIDEO_META, VIDEO_VERSION, ids)
    stored_step = {k: json.loads(v).get("asked_step", "?") for k, v in have.items()}
    need = [
        r
        for r in reps
        if not r.error and (r.id not in have or stored_step[r.id] != _asked(options))
    ]
    for r in reps:
        if r.error:
            on_error(FileError(r.path, r.error))
    tasks = [
        (r.id, r.path, _asked(options), thumb_path(r)) for r in sorted(need, key=lambda r: r.path)
    ]
    by_id = {r.id: r for r in reps}
    if tasks:
        yield Notice(f"sampling {len(tasks)} video(s)")
    # one short transaction per video: the catalog's write lock is never held over a decode
    start = last = time.monotonic()
    done = 0
    for fid, meta, frames, err in pool.map(video_task, tasks, cancel.is_set, chunksize=1):
        done += 1
        now = time.monotonic()
        if now - last >= 0.2 or done == len(tasks):
            last = now
            rate = done / max(now - start, 1e-6)
            yield StageProgress("video", done, len(tasks), rate, (len(tasks) - done) / rate)
        if err is not None:
            with cat.transaction():
                cat.set_kind(fid, VIDEO, err)
            on_error(FileError(by_id[fid].path, err))
            continue
        m = json.loads(meta)
        m["asked_step"] = _asked(options)
        with cat.transaction():
            cat.put_feature(fid, VIDEO_META, VIDEO_VERSION, json.dumps(m).encode())
            cat.put_feature(fid, VIDEO_FRAMES, VIDEO_VERSION, frames)
    if tasks:
        yield StageDone("video", time.monotonic() - start, done)


def load(cat: Catalog, reps: list[FileRow]) -> VideoState:
    ids = [r.id for r in reps]
    metas = {k: json.loads(v) for k, v in cat.load_features(VIDEO_META, VIDEO_VERSION, ids).items()}
    blobs = cat.load_features(VIDEO_FRAMES, VIDEO_VERSION, ids)
    return VideoState(metas, {k: VideoFrames.unpack(v) for k, v in blobs.items() if k in metas})


def frame_radius(options: ScanOptions) -> int:
    """--sensitivity applies to frames as to photos: 0 → 92 bits, 50 → 72 (default), 100 → 52."""
    return round(FRAME_RADIUS + (50 - options.sensitivity) * 0.4)


def match(
    options: ScanOptions,
    state: VideoState,
    forbidden: set[tuple[int, int]],
    cat: Catalog | None = None,
) -> list[Match]:
    """Aligned video pairs, less the pairs a reviewer marked "not a duplicate". With ``cat``,
    the last scan's verdicts are reused when no video's signatures and no option changed (a
    rescan of unchanged videos aligns nothing)."""
    key = _match_key(options, state)
    cached = cat.get_state(MATCH_STATE) if cat is not None else None
    if cached and cached.get("key") == key:
        found = [_match_from_json(m) for m in cached["matches"]]
    else:
        tls = []
        for fid in sorted(state.frames):
            fr = state.frames[fid]
            q, owner = fr.query_hashes()
            tls.append(Timeline(fid, fr.step, fr.times, fr.hashes(), q, owner))
        found = match_videos(
            tls, min_seconds=options.video_min_segment, radius=frame_radius(options)
        )
        if cat is not None:
            with cat.transaction():
                cat.set_state(MATCH_STATE, {"key": key, "matches": [_match_json(m) for m in found]})
    return [m for m in found if (min(m.a, m.b), max(m.a, m.b)) not in forbidden]


def _match_key(options: ScanOptions, state: VideoState) -> str:
    """Digest of everything the verdicts depend on: each video's id and kept frames, the
    options, and the alignment's version."""
    h = xxhash.xxh64()
    h.update(json.dumps([MATCH_VERSION, frame_radius(options), options.video_min_segment]).encode())
    for fid in sorted(state.frames):
        fr = state.frames[fid]
        h.update(f"{fid}:{fr.step}:{len(fr.times)}".encode())
        h.update(np.ascontiguousarray(fr.times).tobytes())
        h.update(np.ascontiguousarray(fr.hashes()).tobytes())
    return h.hexdigest()


def _match_json(m: Match) -> list:
    segs = [[s.a_start, s.a_end, s.b_start, s.b_end, s.score] for s in m.segments]
    return [m.a, m.b, m.tier, m.cover_a, m.cover_b, segs]  # exact floats: JSON keeps them


def _match_from_json(d: list) -> Match:
    a, b, tier, ca, cb, segs = d
    return Match(a, b, tier, ca, cb, tuple(Segment(*s) for s in segs))


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


def build_groups(
    options: ScanOptions,
    state: VideoState,
    matches: list[Match],
    rows: dict[int, FileRow],
    cluster_of: dict[int, list[FileRow]],
    reps: list[FileRow],
) -> tuple[list[tuple[str, str, str, list[Member]]], list[Event]]:
    """(tier, keeper path, reason, members) per video group, and notices (partial overlaps).

    ``same`` groups hold files with a direct ``same`` verdict against the keeper; ``clip``
    groups hold the longer video as keeper and every video found inside it (a video may be a
    clip of several containers, and a container a clip of a longer one: each clip group is
    one container and its direct verdicts); partial overlaps are only counted.
    """
    pair: dict[tuple[int, int], Match] = {}
    for m in matches:
        pair[(m.a, m.b)] = pair[(m.b, m.a)] = m
    same_adj: dict[int, set[int]] = defaultdict(set)
    for m in matches:
        if m.tier == "same":
            same_adj[m.a].add(m.b)
            same_adj[m.b].add(m.a)
    metas = state.metas

    def length(fid: int) -> float:
        """Seconds of picture (kept samples), so black padding does not count."""
        fr = state.frames[fid]
        return len(fr.times) * fr.step

    def members_of(rep_ids: list[int], keeper_rep: int | None) -> list[tuple[Member, int]]:
        longest = max(length(rid) for rid in rep_ids)
        out = []
        for rid in rep_ids:
            short = length(rid) < SHORTER * longest  # a trim or a speed-up: not the original
            for r in cluster_of.get(rid, [rows[rid]]):
                if keeper_rep is None or rid == keeper_rep:
                    out.append((video_member(r, metas.get(rid, {}), 1.0, (), short), rid))
                else:
                    m = pair[(rid, keeper_rep)]
                    cover = m.cover_a if m.a == rid else m.cover_b
                    segs = _segments_vs(m, rid)
                    out.append((video_member(r, metas.get(rid, {}), cover, segs, short), rid))
        return out

    built: list[tuple[str, str, str, list[Member]]] = []
    grouped: set[int] = set()
    same_keeper: dict[int, int] = {}  # file → the keeper of its same group
    keeper_path: dict[int, str] = {}  # that keeper's file (one of its exact copies)
    ids = sorted(fid for fid in state.frames)

    def pick(reps: list[int]) -> tuple[int, str, str]:
        """The keeper among these videos by the keep rules: (its id, its file, the reason)."""
        cands = members_of(reps, None)
        keeper, reason = choose_keeper(
            [m for m, _ in cands],
            options.keep_rules,
            options.reference,
            None,
            options.keep_overrides,
        )
        return next(rid for m, rid in cands if m.path == keeper.path), keeper.path, reason

    def add_same(chosen: list[int], keeper: tuple[int, str, str]) -> None:
        """A same group: the keeper's video, and the others, each with a direct verdict."""
        krep, path, reason = keeper
        files = [m for m, _ in members_of(chosen, krep)]
        built.append(("same", path, f"video: {reason}", files))
        for c in chosen:
            same_keeper.setdefault(c, krep)
        grouped.update(chosen)
        keeper_path.setdefault(krep, path)

    # same: a component at a time; members need a direct verdict against the keeper
    for start in ids:
        if start in grouped or not same_adj[start]:
            continue
        comp, todo = set(), [start]
        while todo:
            x = todo.pop()
            if x in comp or x in grouped:
                continue
            comp.add(x)
            todo.extend(same_adj[x] - comp)
        while len(comp) > 1:
            keeper = pick(sorted(comp))
            krep = keeper[0]
            chosen = [krep] + sorted(comp & same_adj[krep])
            if len(chosen) < 2:
                comp.discard(krep)
                continue
            add_same(chosen, keeper)
            comp -= set(chosen)
    # a copy whose `same` verdicts all point into a group built around another keeper (its
    # own verdict with that keeper fell short): grouped with its closest copy, not left out
    for fid in ids:
        if fid in grouped or not same_adj[fid]:
            continue
        near = max(
            sorted(same_adj[fid]), key=lambda o: min(pair[(fid, o)].cover_a, pair[(fid, o)].cover_b)
        )
        add_same([fid, near], pick([fid, near]))

    # clip: one group per container, holding every shorter video with a direct clip verdict
    # against it — a video inside two compilations is in both groups, a compilation keeps
    # all its pieces; nothing is chained (each member was aligned with that keeper)
    for head, clips in sorted(_clip_relations(matches, pair, same_keeper, length).items()):
        files = [m for m, _ in members_of([head, *clips], head)]
        keep = keeper_path.get(head, rows[head].path)
        built.append(("clip", keep, "video: the longer video, which contains the others", files))
        grouped.update([head, *clips])
    # exact copies of a video that matched nothing else
    for r in reps:
        if r.id not in grouped and r.id in cluster_of:
            files = [m for m, _ in members_of([r.id], None)]
            keeper, reason = choose_keeper(
                files, options.keep_rules, options.reference, None, options.keep_overrides
            )
            built.append(("exact", keeper.path, reason, files))
            grouped.add(r.id)
    notices: list[Event] = []
    partial = sum(1 for m in matches if m.tier == "partial")
    if partial:
        notices.append(
            Notice(
                f"{partial} video pair(s) share only part of their footage (an intro, a scene): "
                "not grouped"
            )
        )
    for _tier, _keep, _reason, files in built:
        files.sort(key=lambda m: m.path)
    return built, notices
