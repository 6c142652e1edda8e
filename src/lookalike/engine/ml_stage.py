"""The scan's ML stage: embeddings, colour, faces and quality; verified "same" edges from
embedding neighbours; the ``similar`` tier. Called from ``pipeline.run_scan`` at two hooks.

Why a separate module: the pipeline stays readable and nothing here runs (nor imports torch)
unless a scan asks for it. Flow::

    features(): decode workers → preprocess / colour / faces / quality → catalog rows;
                the Embedder (one process, owns the device) embeds batches as they arrive
    edges():    faiss range search over the vectors → candidate pairs not already grouped
                → ORB+RANSAC verification (decode workers), strongest first; a file joins
                a group only when verified against every member (cliques.py: never chained)
    merge():    those groups become the ``same`` tier, then the remaining representatives
                are grouped into the ``similar`` tier (complete link, never chained)
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.engine.embedders import DEFAULT_MODEL, ModelSpec, ModelUnavailable, resolve
from lookalike.engine.events import Event, Notice, StageDone, StageProgress
from lookalike.engine.options import MLOptions
from lookalike.engine.pool import run_pool
from lookalike.engine.ray_embed import RayVectors, take_vectors

EMB_PREFIX = "emb:"
COLOUR = "colour"
FACES = "faces"
QUALITY = "quality"
CANDIDATE_K = 20  # embedding neighbours per file sent to verification, at most
# Cosine above which an embedding neighbour is checked as a possible copy; and the tuned
# default for the similar tier. Per model family: the spaces differ.
CANDIDATE_THRESHOLD = {"effnet": 0.60, "open_clip": 0.75}
SIMILAR_THRESHOLD = {"effnet": 0.82, "open_clip": 0.90}
# Aesthetic score with a CLIP-family model: cosine to a positive minus a negative prompt.
DEFAULT_PROMPT = "a beautiful, sharp, well-composed, well-exposed photo"
NEGATIVE_PROMPT = "a blurry, badly exposed, ugly, low quality photo"
AESTHETIC_WEIGHT = 0.3  # share of the aesthetic score in the stored quality score


def gpu_present() -> bool:
    """Cheap check (no torch import) that an NVIDIA GPU exists, for ``--model auto``."""
    return os.path.exists("/dev/nvidia0") or os.path.exists("/proc/driver/nvidia/version")


def choose_model(opts: MLOptions) -> str | None:
    """``auto``: embeddings on by default with a GPU (CLIP when its weights are here, else the
    offline CNN); on a CPU they are opt-in (measured: ~20 images/s on 2 cores, the slowest stage)."""
    if opts.model is None:
        return DEFAULT_MODEL if (opts.similar and opts.by is None) else None
    if opts.model != "auto":
        return opts.model
    gpu = gpu_present() or opts.device.startswith("cuda")
    if opts.weights or not gpu:
        return None if not opts.weights else DEFAULT_MODEL
    from lookalike.engine.embedders import cached_weights

    clip = resolve("clip-vit-b-32")
    return clip.name if cached_weights(clip) is not None else DEFAULT_MODEL


# -- worker side ----------------------------------------------------------------------------
def extras_of(decoded: Any, job: tuple) -> tuple:
    """From one decode: (model input, colour bytes, face count, quality dict); None where the
    job does not ask for it. ``job`` = (spec | None, colour?, faces?, quality?)."""
    spec, want_colour, want_faces, want_quality = job
    rgb = decoded.rgb
    arr = spec.preprocess(rgb) if spec is not None else None
    colour = faces = quality = None
    if want_colour:
        from lookalike.engine.features.colour import colour_vector

        colour = colour_vector(rgb).astype(np.float16).tobytes()
    if want_faces:
        from lookalike.engine.features.faces import count_faces

        faces = count_faces(rgb)
    if want_quality:
        from lookalike.engine.features.quality import measure

        quality = measure(rgb, decoded.width, decoded.height).to_json()
    return arr, colour, faces, quality


def extract_with_ml(
    path: str, thumb: str | None, max_pixels: int, job: tuple, pack: bool = False
) -> tuple:
    """The pipeline's extract task with ML: ONE decode feeds the perceptual features and the
    ML extras. A failure in the extras never costs the perceptual features (extras = None).
    ``pack``: the thumbnail goes to the worker's pack (``features_of``)."""
    from lookalike.engine.features.extract import features_of
    from lookalike.engine.media.decode import DecodeError, decode_reduced

    decoded = decode_reduced(path, max_pixels=max_pixels)
    try:
        feats = features_of(decoded, thumb, pack)
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(f"features failed ({type(exc).__name__}: {exc})") from exc
    try:
        extra = extras_of(decoded, job)
    except Exception:
        extra = None
    return feats, extra


def _feature_task(task: tuple) -> tuple:
    """In a decode worker (files whose perceptual features were already stored): one reduced
    decode → the ML extras."""
    fid, path, job, max_pixels = task
    from lookalike.engine.media.decode import DecodeError, decode_reduced

    try:
        spec = job[0]
        target = max(256, spec.input_size) if spec is not None else 256
        d = decode_reduced(path, target=target, max_pixels=max_pixels)
        return fid, extras_of(d, job), None
    except DecodeError as exc:
        return fid, None, str(exc)
    except Exception as exc:  # one odd file never stops the scan
        return fid, None, f"ml features failed ({type(exc).__name__}: {exc})"


# -- the stage ------------------------------------------------------------------------------
@dataclass
class MLState:
    """What the stage learned, handed from one hook to the next."""

    opts: MLOptions
    model: str | None = None
    version: str | None = None
    family: str = "effnet"
    vectors: Any = field(default_factory=dict)  # rep id → row of ``matrix`` (RowVectors)
    ids: np.ndarray | None = None  # int64 ids, sorted; rows of ``matrix``
    matrix: np.ndarray | None = None  # (n, dim) float16 unit vectors: 1M × 1280 = 2.5 GB
    on_disk: bool = False  # ``matrix`` is a memmap beside the catalog (disk_vectors.py)
    index: Any = None  # VectorIndex over ``matrix`` (built once, saved, reused by edges())
    colours: dict[int, np.ndarray] = field(default_factory=dict)
    faces: dict[int, int] = field(default_factory=dict)
    quality: dict[int, dict] = field(default_factory=dict)
    same_edges: list[tuple[int, int, float]] = field(default_factory=list)  # verified pairs
    same_groups: list[list[int]] | None = None  # edges(): every pair in a group verified
    embedded: int = 0
    embed_seconds: float = 0.0
    device: str | None = None
    search_workers: int = 1  # the scan's decode workers, idle during the vector searches

    @property
    def images_per_second(self) -> float | None:
        return self.embedded / self.embed_seconds if self.embedded and self.embed_seconds else None


def _progress(stage: str, done: int, total: int, start: float) -> StageProgress:
    el = max(time.monotonic() - start, 1e-6)
    rate = done / el if done else None
    eta = (total - done) / rate if rate else None
    return StageProgress(stage, done, total, rate, eta)


class Feeder:
    """Owns the embedder for one scan and takes the ML extras of each file, whichever decode
    made them (the pipeline's extract pool, or ``features()`` for files decoded before).
    Rows go into the caller's open transaction; embeddings are written per batch."""

    def __init__(self, opts: MLOptions, cat: Any) -> None:
        from lookalike.engine.features.colour import COLOUR_VERSION
        from lookalike.engine.features.faces import FACES_VERSION
        from lookalike.engine.features.quality import QUALITY_VERSION

        self.versions = (COLOUR_VERSION, FACES_VERSION, QUALITY_VERSION)
        self.opts, self.cat = opts, cat
        self.state = MLState(opts)
        self.notices: list[tuple[str, str]] = []
        self.spec: ModelSpec | None = None
        self.embedder: Any = None
        self.feat_name: str | None = None
        self.pending: list[tuple[int, np.ndarray]] = []
        self.ready: list[tuple[int, np.ndarray]] = []  # vectors a Ray actor made (ray_embed)
        self.remote = False  # the executor embeds (RayPool); the driver only as a fallback
        self.added = 0
        name = choose_model(opts)
        if name is not None:
            try:
                self.spec = resolve(name)
            except ModelUnavailable as exc:
                self.notices.append((f"embeddings off: {exc}", "warning"))
        if self.spec is not None:
            st = self.state
            st.model, st.family, st.version = self.spec.name, self.spec.family, self.spec.version
            if opts.weights:
                from lookalike.engine.features.embed import _file_tag

                st.version += f":w{_file_tag(Path(opts.weights).expanduser())}"
            self.feat_name = EMB_PREFIX + st.version
        # faces mode without a model groups look-alikes by palette among equal face counts
        self.want_colour = opts.by == "colour" or (opts.by == "faces" and self.spec is None)
        self.want_faces = opts.by == "faces" and self._faces_ready()

    def _faces_ready(self) -> bool:
        """Face counts need a detector (the faces extra on OpenCV 5); without one, say so once
        and group by palette alone rather than fail on every file."""
        from lookalike.engine.features.faces import FacesUnavailable, backend

        try:
            backend()
        except FacesUnavailable as exc:
            self.notices.append((f"face counts off: {exc}", "warning"))
            return False
        return True

    @property
    def job(self) -> tuple:
        """What a decode worker computes for a file with nothing stored yet (picklable)."""
        return (self.spec, self.want_colour, self.want_faces, self.opts.quality)

    def remote_job(self, slot: int, kind: str = "extra", roots: Sequence = ()) -> Any:
        """The model job for Ray embedding actors (ray_embed.job_for); marks the feeder remote."""
        from lookalike.engine.ray_embed import job_for

        return job_for(self, slot, kind, roots)

    def _ensure_embedder(self) -> bool:
        if self.embedder is not None:
            return True
        if self.spec is None:
            return False
        if self.remote:
            self.notices.append(
                (
                    "the Ray embedding actors could not load the model (weights missing on a "
                    "node?): the driver embeds the rest; check --weights under --remote-root",
                    "warning",
                )
            )
        try:
            from lookalike.engine.features.embed import Embedder

            t0 = time.monotonic()
            o = self.opts
            self.embedder = Embedder(
                self.spec,
                device=o.device,
                weights=o.weights,
                allow_download=o.allow_download,
                precision=o.precision,
            )
            self.state.device = self.embedder.device
            self.notices.append(
                (
                    f"embedding model {self.embedder.name} on {self.embedder.device} "
                    f"(loaded in {time.monotonic() - t0:.1f} s, batch {self.embedder.batch_size})",
                    "info",
                )
            )
            return True
        except ModelUnavailable as exc:
            self.notices.append((f"embeddings off: {exc}", "warning"))
            self.spec = self.feat_name = None
            self.state.model = self.state.version = None
            return False

    def add(self, fid: int, extra: tuple | None) -> None:
        if extra is None:
            return
        arr, colour, nfaces, quality = extra
        cv, fv, qv = self.versions
        self.added += 1
        if isinstance(arr, RayVectors):
            take_vectors(self, fid, arr)
        elif arr is not None and self._ensure_embedder():
            self.pending.append((fid, arr))
            if len(self.pending) >= self.embedder.batch_size:
                self.flush()
        if colour is not None:
            self.cat.put_feature(fid, COLOUR, cv, colour)
        if nfaces is not None:
            self.cat.put_feature(fid, FACES, fv, json.dumps(nfaces).encode())
        if quality is not None:
            self.cat.put_feature(fid, QUALITY, qv, json.dumps(quality).encode())

    def flush(self) -> None:
        self._write(self.ready)
        if not self.pending or self.embedder is None:
            self.pending.clear()
            return
        t = time.monotonic()
        vecs = self.embedder.embed_arrays([a for _, a in self.pending])
        self.state.embed_seconds += time.monotonic() - t
        self.state.embedded += len(self.pending)
        self._write([(fid, v) for (fid, _), v in zip(self.pending, vecs, strict=True)])
        self.pending.clear()

    def _write(self, rows: list[tuple[int, np.ndarray]]) -> None:
        """Vectors to the catalog in one short transaction (after the model ran: the write
        lock is held briefly); ``rows`` is emptied."""
        if not rows:
            return
        with self.cat.transaction():
            for fid, v in rows:
                self.cat.put_feature(fid, self.feat_name, 1, v.astype(np.float16).tobytes())
        rows.clear()


def _load_state(cat: Any, ids: list[int], feeder: Feeder, catalog_path: Path | None) -> None:
    """Load what the later hooks need into the feeder's state (every rep, not only new ones)."""
    state, spec, feat_name = feeder.state, feeder.spec, feeder.feat_name
    cv, fv, qv = feeder.versions

    def load(name: str, version: int) -> dict[int, bytes]:
        return cat.load_features(name, version, ids)

    def load_part(name: str, version: int, part: list[int]) -> dict[int, bytes]:
        return cat.load_features(name, version, part)

    if feat_name and spec is not None:
        from lookalike.engine import disk_vectors as dv

        file = dv.matrix_path(catalog_path, state.version or "emb") if catalog_path else None
        path = file if file is not None and len(ids) >= dv.disk_threshold() else None
        read = lambda part: load_part(feat_name, 1, part)  # noqa: E731
        got, mat = dv.load_matrix(ids, spec.dim, read, path, stale=file)
        if len(got):
            state.ids, state.matrix, state.on_disk = got, mat, path is not None
            state.vectors = dv.RowVectors(got, mat)
            _build_index(catalog_path, state)
    if feeder.want_colour:
        for fid, raw in load(COLOUR, cv).items():
            state.colours[fid] = np.frombuffer(raw, dtype=np.float16).astype(np.float32)
    if feeder.want_faces:
        state.faces = {fid: int(json.loads(raw)) for fid, raw in load(FACES, fv).items()}
    if feeder.opts.quality:
        state.quality = {fid: json.loads(raw) for fid, raw in load(QUALITY, qv).items()}


def features(
    opts: MLOptions,
    cat: Any,
    reps: Sequence[Any],
    workers: int,
    max_pixels: int,
    cancel: threading.Event,
    catalog_path: Path | None = None,
    feeder: Feeder | None = None,
    pool: Any = None,
) -> Iterator[Event | MLState]:
    """Compute the ML features still missing for ``reps`` (catalog FileRows) — files the
    pipeline's extract pool already fed to ``feeder`` are done — then load what grouping needs.
    ``pool``: the scan's RayPool with ``--executor ray`` (decode and embed on the cluster);
    else a local pool for just these files. Yields events, then the :class:`MLState` last."""
    feeder = feeder or Feeder(opts, cat)
    state = feeder.state
    spec, feat_name = feeder.spec, feeder.feat_name
    want_colour, want_faces = feeder.want_colour, feeder.want_faces
    ids = [r.id for r in reps]
    have_emb = cat.feature_versions(feat_name) if feat_name else {}
    have_col = cat.feature_versions(COLOUR) if want_colour else {}
    have_fac = cat.feature_versions(FACES) if want_faces else {}
    have_q = cat.feature_versions(QUALITY) if opts.quality else {}
    cv, fv, qv = feeder.versions
    tasks = []
    for r in sorted(reps, key=lambda r: r.path):
        e = spec is not None and r.id not in have_emb
        c = want_colour and have_col.get(r.id) != cv
        f = want_faces and have_fac.get(r.id) != fv
        q = opts.quality and have_q.get(r.id) != qv
        if e or c or f or q:
            tasks.append((r.id, r.path, (spec if e else None, c, f, q), max_pixels))
    start = time.monotonic()
    done = 0
    last = 0.0
    # no transaction held across the pool: each feature row commits on its own (WAL, cheap)
    if pool is not None and pool.remote_embed:
        job = feeder.remote_job(1, roots=pool.remote_roots)
        results = pool.map(_feature_task, tasks, cancel.is_set, chunksize=8, embed=job)
    else:
        results = run_pool(_feature_task, tasks, workers, cancel.is_set, chunksize=8)
    for fid, extra, err in results:
        done += 1
        if err is None:
            feeder.add(fid, extra)
        now = time.monotonic()
        if now - last > 0.2:
            last = now
            yield _progress("embed", done, len(tasks), start)
    feeder.flush()
    for msg, level in feeder.notices:
        yield Notice(msg, level)
    feeder.notices.clear()
    spec, feat_name = feeder.spec, feeder.feat_name  # None when the model failed to load
    yield StageDone("embed", time.monotonic() - start, done)
    if state.embedded:
        rate = state.images_per_second or 0.0
        yield Notice(
            f"embeddings: {state.embedded} images with {state.model} on {state.device} "
            f"at {rate:.1f} images/s"
        )

    if spec is not None and (problem := _disk_problem()):
        yield Notice(problem, "warning")
    _load_state(cat, ids, feeder, catalog_path)
    if state.vectors and spec is not None and spec.text:
        notice = _aesthetic(state, spec, cat, feeder.embedder)
        if notice:
            yield Notice(notice, "warning")
    yield state


def _disk_problem() -> str | None:
    from lookalike.engine.disk_vectors import threshold_problem

    return threshold_problem()


def aesthetic_score(vectors: np.ndarray, text_vectors: np.ndarray) -> np.ndarray:
    """0..1 from (cos to the positive prompt − cos to the negative one); CLIP-family cosine
    gaps are small (±0.05), hence the gain."""
    gap = vectors @ text_vectors[0] - vectors @ text_vectors[1]
    return np.clip(0.5 + 5.0 * gap, 0.0, 1.0)


def _aesthetic(state: MLState, spec: ModelSpec, cat: Any, embedder: Any) -> str | None:
    """Blend a prompt score into each file's quality score. Text vectors are cached in the
    catalog so a rescan need not load the model only for them."""
    pos = state.opts.prompt or DEFAULT_PROMPT
    key = f"ml.prompt:{state.version}:{pos}|{NEGATIVE_PROMPT}"
    cached = cat.get_state(key)
    if cached is None:
        try:
            if embedder is None:
                from lookalike.engine.features.embed import Embedder

                o = state.opts
                embedder = Embedder(
                    spec, device=o.device, weights=o.weights, allow_download=o.allow_download
                )
            cached = embedder.embed_texts([pos, NEGATIVE_PROMPT]).tolist()
        except ModelUnavailable as exc:
            return f"aesthetic prompt score off: {exc}"
        cat.set_state(key, cached)
    tv = np.asarray(cached, dtype=np.float32)
    assert state.ids is not None and state.matrix is not None
    scores = np.concatenate(
        [
            aesthetic_score(state.matrix[i : i + 65536].astype(np.float32), tv)
            for i in range(0, len(state.ids), 65536)
        ]
    )
    for fid, a in zip(state.ids.tolist(), scores.tolist(), strict=True):
        q = state.quality.setdefault(fid, {})
        q["aesthetic"] = round(a, 4)
        if "score" in q:
            q["score"] = round((1 - AESTHETIC_WEIGHT) * q["score"] + AESTHETIC_WEIGHT * a, 4)
    return None


def _build_index(catalog_path: Path | None, state: MLState) -> None:
    """Index the vectors once (exact below 200k, IVF-SQ8 above, and always IVF-SQ8 when the
    vectors are on disk: no float32 copy of them) and persist it beside the catalog for
    ``lookalike query``; edges() and the similar tier reuse it."""
    from lookalike.engine.vector_index import VectorIndex, index_path

    assert state.ids is not None and state.matrix is not None
    kind = "ivf" if state.on_disk else "auto"
    state.index = VectorIndex.build(state.ids, state.matrix, kind=kind)
    if catalog_path is None:
        return
    try:
        state.index.save(
            index_path(catalog_path, state.version or "emb"),
            {
                "model": state.model,
                "version": state.version,
                "feature": EMB_PREFIX + str(state.version),
            },
        )
    except OSError:
        pass  # the index is a cache: the catalog holds the vectors
