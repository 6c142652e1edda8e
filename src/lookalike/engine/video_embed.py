"""With ``--model``: frame embeddings of videos, to find copies the DCT signature misses.

The frame hash (video_sig.py) survives re-encodes, resizes, mirrors, bars and colour edits,
but not a crop of a fifth or more of the picture: then every frame is a different picture
to the hash. A CNN embedding still sees the same scene. Every EMB_EVERY-th sample step (at
least EMB_MIN_STEP s) is decoded again, its informative frames are embedded by the scan's
own embedder (the one the photos use, batched) and cached in the catalog with that step.

Embeddings also say "alike" for two shots of one place, so they never decide alone: their
frame hits (cosine ≥ EMB_COS) go through the same offset vote and coverage rules as the
hashes (video_align.py), and only a pair the hashes did not match at all can be added — where
they matched (even ``partial``), their five-times finer timing decides the tier: at the
embeddings' step a 4 s clip's coverage is known to 12 %, and neighbouring moments of a slow
shot embed alike, so they called two 75 %-overlapping trims a clip. An added pair is first
checked on the pictures: at VERIFY_MOMENTS moments of its longest segment, the two frames
must verify as one picture (ORB + RANSAC + blocks, features/verify.py, as for photo
candidates) at least VERIFY_NEED times.
"""

from __future__ import annotations

import struct
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from lookalike.engine.events import Event, StageDone, StageProgress
from lookalike.engine.ray_embed import RayVectors
from lookalike.engine.video_align import MIN_SAMPLES, Match, align, classify

VEMB_PREFIX = "vemb:"
VEMB_VERSION = 1
EMB_EVERY = 5  # one embedded frame per this many sample steps...
EMB_MIN_STEP = 0.5  # ...and at most two a second
EMB_SIDE = 256  # decoded long side for the embedder (its input is 224 px)
EMB_COS = 0.55  # frame hit: copies (even 30 % crops) ≥ 0.6, unrelated footage ≤ 0.4
VERIFY_MOMENTS = 3
VERIFY_NEED = 2
VERIFY_SIDE = 480
_HEAD = struct.Struct("<fii")


@dataclass
class Embedded:
    """One video's embedded frames: times (s) and unit vectors."""

    step: float
    times: np.ndarray
    vecs: np.ndarray

    def pack(self) -> bytes:
        n, dim = self.vecs.shape if self.vecs.ndim == 2 else (0, 0)
        return (
            _HEAD.pack(self.step, n, dim)
            + self.times.astype(np.float32).tobytes()
            + self.vecs.astype(np.float16).tobytes()
        )

    @classmethod
    def unpack(cls, data: bytes) -> Embedded:
        step, n, dim = _HEAD.unpack_from(data)
        at = _HEAD.size
        times = np.frombuffer(data, np.float32, n, at)
        vecs = np.frombuffer(data, np.float16, n * dim, at + 4 * n).reshape(n, dim)
        return cls(step, times, vecs.astype(np.float32))


def emb_step(sample_step: float) -> float:
    return round(max(EMB_MIN_STEP, EMB_EVERY * sample_step), 3)


def embed_task(task: tuple[int, str, float, Any]) -> tuple:
    """Runs in a decode worker: (file id, times, preprocessed frames, error message)."""
    from lookalike.engine.features.video_sig import INFORMATIVE_STD, _content_box, _grey64
    from lookalike.engine.media.decode import DecodeError
    from lookalike.engine.media.video import sample_frames

    fid, path, step, spec = task
    try:
        s = sample_frames(path, step, side=EMB_SIDE)
        top, bottom, left, right = _content_box(s.frames)
        times, arrays = [], []
        for t, f in zip(s.times, s.frames, strict=True):
            pic = f[top:bottom, left:right]
            if float(_grey64(pic).std()) < INFORMATIVE_STD:
                continue  # black, flat, deep in a fade: as in the hashes
            times.append(t)
            arrays.append(spec.preprocess(Image.fromarray(np.ascontiguousarray(pic), "RGB")))
        return fid, times, arrays, None
    except DecodeError as exc:
        return fid, None, None, str(exc)
    except Exception as exc:  # never let one file stop the scan
        return fid, None, None, f"unexpected error ({type(exc).__name__}: {exc})"


def is_current(blob: bytes | None, sample_step: float) -> bool:
    """Whether stored embeddings were taken at the step this video's sampling now implies
    (the blob keeps the step as float32: compared with a tolerance, or every rescan of a
    video whose step is not a round number would embed it again)."""
    return blob is not None and abs(Embedded.unpack(blob).step - emb_step(sample_step)) < 1e-4


def feature_name(version: str) -> str:
    return VEMB_PREFIX + version


def extract(
    cat: Any,
    reps: list[Any],
    steps: dict[int, float],
    pool: Any,
    cancel: Any,
    feeder: Any,
    on_error: Callable[[Any], None],
) -> Iterator[Event]:
    """Embed the videos (``steps``: their sample step) with no current embeddings; vectors
    go to the catalog. Errors were already said by the sampling pass: only new ones here."""
    from lookalike.engine.records import FileError

    if feeder is None or feeder.spec is None or not reps:
        return
    name = feature_name(feeder.state.version)
    have = cat.load_features(name, VEMB_VERSION, [r.id for r in reps])
    need = [
        r
        for r in sorted(reps, key=lambda r: r.path)
        if r.id in steps and not is_current(have.get(r.id), steps[r.id])
    ]
    job = feeder.remote_job(2, "list", pool.remote_roots) if pool.remote_embed else None
    if not need or (job is None and not feeder._ensure_embedder()):
        return
    tasks = [(r.id, r.path, emb_step(steps[r.id]), feeder.spec) for r in need]
    paths = {r.id: r.path for r in need}
    start = time.monotonic()
    done = 0
    results = pool.map(embed_task, tasks, cancel.is_set, chunksize=1, embed=job)
    for fid, times, arrays, err in results:
        done += 1
        if err is not None:
            on_error(FileError(paths[fid], err))
            continue
        vecs = _embed(feeder, arrays)
        if len(vecs) != len(times):  # no model to embed them with (the feeder said why)
            continue
        blob = Embedded(emb_step(steps[fid]), np.asarray(times, np.float32), vecs).pack()
        with cat.transaction():
            cat.put_feature(fid, name, VEMB_VERSION, blob)
        rate = done / max(time.monotonic() - start, 1e-6)
        yield StageProgress("video", done, len(tasks), rate, (len(tasks) - done) / rate)
    yield StageDone("video", time.monotonic() - start, done)


def _embed(feeder: Any, arrays: Any) -> np.ndarray:
    """Arrays → unit vectors, in the embedder's batches; a Ray actor's vectors as they are."""
    if isinstance(arrays, RayVectors):
        feeder.state.device = feeder.state.device or f"{arrays.device} (Ray actors)"
        feeder.state.embed_seconds += arrays.seconds_each * len(arrays.vectors)
        feeder.state.embedded += len(arrays.vectors)
        return np.asarray(arrays.vectors, np.float32)
    dim = feeder.spec.dim
    if not arrays or not feeder._ensure_embedder():  # no model here: the feeder said why
        return np.zeros((0, dim), np.float32)
    emb = feeder.embedder
    t = time.monotonic()
    out = [
        emb.embed_arrays(arrays[i : i + emb.batch_size])
        for i in range(0, len(arrays), emb.batch_size)
    ]
    feeder.state.embed_seconds += time.monotonic() - t
    feeder.state.embedded += len(arrays)
    return np.concatenate(out).astype(np.float32)


def load(cat: Any, ids: list[int], version: str | None) -> dict[int, Embedded]:
    if not version:
        return {}
    blobs = cat.load_features(feature_name(version), VEMB_VERSION, ids)
    return {k: Embedded.unpack(v) for k, v in blobs.items()}


def digest(emb: dict[int, Embedded]) -> bytes:
    """What the verdicts depend on, for the video stage's cache key."""
    parts = [f"{k}:{e.step}:{len(e.times)}".encode() + e.times.tobytes() for k, e in emb.items()]
    return b"|".join(sorted(parts)) + (b"v%d" % VEMB_VERSION if emb else b"")


def candidates(emb: dict[int, Embedded], min_seconds: float, workers: int = 1) -> list[Match]:
    """Pairs of videos whose embedded frames line up (``same`` or ``clip``), by the hashes'
    alignment and coverage rules, with embedding hits in place of hash hits. The search runs
    on ``workers`` threads (the scan's decode workers, idle in the rank stage)."""
    from lookalike.engine.dense_search import neighbours
    from lookalike.engine.vector_index import VectorIndex

    keys = sorted(k for k, e in emb.items() if len(e.times))
    if len(keys) < 2:
        return []
    vid = np.concatenate([np.full(len(emb[k].times), n) for n, k in enumerate(keys)])
    frame = np.concatenate([np.arange(len(emb[k].times)) for k in keys])
    allv = np.concatenate([emb[k].vecs for k in keys])
    # the photos' index choice: exact below FLAT_MAX vectors, IVF-SQ8 above (a library of
    # videos is 40 embedded frames each; all-pairs cosines would grow with its square)
    index = VectorIndex.build(np.arange(len(allv)), allv, kind="auto")
    hits: dict[tuple[int, int], dict[tuple[int, int], float]] = defaultdict(dict)
    for q, (ids, cos) in enumerate(neighbours(index, allv, EMB_COS, workers=workers)):
        for r, c in zip(ids, cos, strict=True):
            if vid[r] > vid[q]:
                hits[(int(vid[q]), int(vid[r]))][(int(frame[q]), int(frame[r]))] = float(c)
    out = []
    for (i, j), hit in sorted(hits.items()):
        if len(hit) < MIN_SAMPLES:
            continue
        a, b = emb[keys[i]], emb[keys[j]]
        fa, fb = (np.array([k[n] for k in hit]) for n in (0, 1))
        sim = (np.array(list(hit.values())) - EMB_COS) / (1.0 - EMB_COS)
        step = max(a.step, b.step)
        segs = align(
            a.times[fa], b.times[fb], np.ones(len(fa)), step, min_seconds=min_seconds, sim=sim
        )
        if not segs:
            continue
        tier, ca, cb = classify(segs, a.times, b.times, a.step, b.step)
        if tier != "partial":
            out.append(Match(keys[i], keys[j], tier, round(ca, 4), round(cb, 4), tuple(segs)))
    return out


def improve(
    found: list[Match],
    emb: dict[int, Embedded],
    paths: dict[int, str],
    min_seconds: float,
    verify: Callable[[str, float, str, float], bool | None] | None = None,
    workers: int = 1,
) -> list[Match]:
    """The hashes' verdicts, plus the pairs they missed where the embeddings line up and the
    pictures verify (see the module's docstring); ``workers``: the frames' search threads."""
    by_pair = {(m.a, m.b): m for m in found}
    check = verify or verify_moment
    for m in candidates(emb, min_seconds, workers):
        if (m.a, m.b) in by_pair:
            continue  # the hashes saw this pair: their finer timing decides its tier
        if m.a in paths and m.b in paths and _verified(m, paths, check):
            by_pair[(m.a, m.b)] = m
    return sorted(by_pair.values(), key=lambda m: (m.a, m.b))


def _verified(m: Match, paths: dict[int, str], check: Callable) -> bool:
    """At VERIFY_NEED of VERIFY_MOMENTS moments of the longest segment, one picture."""
    seg = max(m.segments, key=lambda s: s.a_end - s.a_start)
    span = seg.a_end - seg.a_start
    rate = (seg.b_end - seg.b_start) / span if span > 0 else 1.0
    ok = 0
    for k in range(VERIFY_MOMENTS):
        ta = seg.a_start + span * (k + 1) / (VERIFY_MOMENTS + 1)
        tb = seg.b_start + (ta - seg.a_start) * rate
        if check(paths[m.a], ta, paths[m.b], tb):
            ok += 1
    return ok >= VERIFY_NEED


def verify_moment(path_a: str, ta: float, path_b: str, tb: float) -> bool | None:
    """Whether the frames at ``ta`` in a and ``tb`` in b are one picture (None: cannot say)."""
    from lookalike.engine.features.verify import verify_arrays
    from lookalike.engine.media.decode import DecodeError
    from lookalike.engine.media.video import frame_at

    try:
        fa, fb = frame_at(path_a, ta, VERIFY_SIDE), frame_at(path_b, tb, VERIFY_SIDE)
    except DecodeError:
        return None
    return verify_arrays(fa, fb).same
