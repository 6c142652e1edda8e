"""The scan's video stage: sample new videos (cached in the catalog), load, align (cached).

Kept apart from the photo path so it stays readable; the scan calls ``extract`` after the
photo decode (same worker pool), then ``load`` and ``match``, and video_groups.py turns the
verdicts into groups next to the photo groups.
A video's probe and frame signatures are stored per file with the step they were sampled at:
an unchanged video is never decoded again unless ``--video-step`` changes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xxhash

from lookalike.engine import video_embed
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
from lookalike.engine.records import FileError
from lookalike.engine.video_align import FRAME_RADIUS, Match, Segment, Timeline, match_videos

MATCH_STATE = "video_matches"  # catalog state: the last scan's verdicts and what they came from
MATCH_VERSION = 6  # bump when video_align changes its verdicts (6: run ends on their line)


@dataclass
class VideoState:
    """What the grouping needs: probe metadata and frames per representative file id; with
    ``--model`` the frames' embeddings and the files' paths (to verify what they find)."""

    metas: dict[int, dict]
    frames: dict[int, VideoFrames]
    emb: dict[int, video_embed.Embedded] = field(default_factory=dict)
    paths: dict[int, str] = field(default_factory=dict)


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


def embed(
    cat: Catalog,
    reps: list[FileRow],
    pool: DecodePool,
    cancel: threading.Event,
    feeder: Any,
    on_error: Callable[[FileError], None],
) -> Iterator[Event]:
    """``--model``: embed the sampled videos' frames at a lower rate (video_embed.py)."""
    ids = [r.id for r in reps if not r.error]
    steps = {
        k: float(json.loads(v)["step"])
        for k, v in cat.load_features(VIDEO_META, VIDEO_VERSION, ids).items()
    }
    ok = [r for r in reps if r.id in steps]
    yield from video_embed.extract(cat, ok, steps, pool, cancel, feeder, on_error)


def load(cat: Catalog, reps: list[FileRow], emb_version: str | None = None) -> VideoState:
    """The sampled videos; ``emb_version`` (the scan's embedding model) adds their frame
    embeddings."""
    ids = [r.id for r in reps]
    metas = {k: json.loads(v) for k, v in cat.load_features(VIDEO_META, VIDEO_VERSION, ids).items()}
    blobs = cat.load_features(VIDEO_FRAMES, VIDEO_VERSION, ids)
    frames = {k: VideoFrames.unpack(v) for k, v in blobs.items() if k in metas}
    emb = {k: e for k, e in video_embed.load(cat, ids, emb_version).items() if k in frames}
    return VideoState(metas, frames, emb, {r.id: r.path for r in reps if r.id in frames})


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
        if state.emb:
            found = video_embed.improve(
                found, state.emb, state.paths, options.video_min_segment, workers=options.workers
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
    h.update(video_embed.digest(state.emb))
    return h.hexdigest()


def _match_json(m: Match) -> list:
    segs = [[s.a_start, s.a_end, s.b_start, s.b_end, s.score] for s in m.segments]
    return [m.a, m.b, m.tier, m.cover_a, m.cover_b, segs]  # exact floats: JSON keeps them


def _match_from_json(d: list) -> Match:
    a, b, tier, ca, cb, segs = d
    return Match(a, b, tier, ca, cb, tuple(Segment(*s) for s in segs))
