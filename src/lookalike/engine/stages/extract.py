"""Stage 4, extract: representatives → features in the catalog (one decode per file).

Perceptual features and the thumbnail come from one reduced-size decode in the worker pool;
with ``--model`` (or the "quality" keep rule) the same decode feeds the embedder (ml_stage.py);
videos are sampled in the same pool (video_stage.py). Features are committed in batches, so an
interrupted scan resumes with what it had.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from lookalike.engine.catalog import FileRow
from lookalike.engine.events import Event, Notice
from lookalike.engine.features.extract import PERCEPTUAL_VERSION
from lookalike.engine.media.readahead import HEAD_BYTES, WHOLE_BYTES, ReadAhead
from lookalike.engine.media.sniff import IMAGE
from lookalike.engine.pool import chunk_limit, chunk_size
from lookalike.engine.records import FileError
from lookalike.engine.stages.context import Progress, ScanContext, Writes
from lookalike.engine.stages.exact import Exact
from lookalike.engine.stages.extract_worker import extract_task  # what the workers run

if TYPE_CHECKING:
    from lookalike.engine.stages.early import Early

META = "meta"
PERCEPT = "percept"


def ml_options(ctx: ScanContext) -> Any:
    """The ML stage's options: asked for, or implied by the "quality" keep rule."""
    if ctx.options.ml is None and "quality" in ctx.options.keep_rules:
        from lookalike.engine.ml_stage import MLOptions

        return MLOptions()
    return ctx.options.ml


def task_chunk(ctx: ScanContext, rows: list[FileRow], feeder: Any = None) -> int | None:
    """Tasks a chunk of the local pool holds for ``rows`` (pool.chunk_limit: more of them
    when the photos are small); None (the pool's own rule) for Ray, or with ``--model``,
    whose results carry the embedder's inputs too."""
    opts = ctx.options
    if opts.executor != "local" or feeder is not None:
        return None
    return chunk_size(len(rows), opts.workers, chunk_limit([r.size for r in rows]))


def read_ahead(ctx: ScanContext, need: list[FileRow]) -> ReadAhead | None:
    """The photos bigger than the sniff's read-ahead (readahead.py), read ahead of the local
    workers whole: a cold 2 MB camera JPEG waited ≈ 9 ms on the disk (10.7 ms to read against
    1.7 cached) before a ≈ 55 ms decode could start. Tasks go out in order, a chunk at a
    time, and results come back a chunk at a time: the window covers the chunks in flight."""
    if ctx.options.executor != "local" or ctx.options.workers <= 1:
        return None
    paths = [r.path if r.size > HEAD_BYTES else None for r in need]
    if not any(paths):
        return None
    chunk = task_chunk(ctx, need) or chunk_size(len(need), ctx.options.workers)
    return ReadAhead(paths, ahead=2 * (ctx.options.workers + 1) * chunk, length=WHOLE_BYTES)


def batch_tasks(ctx: ScanContext, rows: list[FileRow], feeder: Any = None) -> list[tuple]:
    """``extract_task``'s tasks for ``rows``, in their order."""
    opts = ctx.options
    budget = opts.max_decode_mb * 2**20
    tasks = [(r.id, r.path, ctx.thumb_path(r), opts.max_pixels, budget) for r in rows]
    if feeder is not None:
        tasks = [(*t, feeder.job) for t in tasks]
    return tasks


def _paced(results: Iterator[tuple], ahead: ReadAhead | None) -> Iterator[tuple]:
    """``results``, keeping the read-ahead a window ahead of the tasks they answer."""
    for n, res in enumerate(results, 1):
        if ahead is not None:
            ahead.reached(n)
        yield res


def _results(
    ctx: ScanContext, need: list[FileRow], feeder: Any, early: Early | None
) -> Iterator[tuple]:
    """The results of the photos sent early (early.py), then of the rest of ``need``."""
    if early is not None:  # the rest queued now, behind the early ones: no gap between them
        early.send(ctx, [r for r in need if r.id not in early.ids])
        for results, ahead in early.batches:  # sent in order, so they finish about in order
            if ctx.cancel.is_set():  # not a wait for a later batch's first result
                return
            yield from _paced(results, ahead)
        return
    if not need or ctx.cancel.is_set():
        return
    need = sorted(need, key=lambda r: r.path)
    tasks = batch_tasks(ctx, need, feeder)
    ahead = read_ahead(ctx, need)
    job = None  # --executor ray: the cluster embeds too (ray_embed.py); else the feeder does
    if feeder is not None and ctx.pool.remote_embed:
        job = feeder.remote_job(4, roots=ctx.options.remote_roots)
    if ahead is not None:
        ahead.reached(0)
    chunk = task_chunk(ctx, need, feeder)
    yield from _paced(ctx.pool.map(extract_task, tasks, ctx.cancel.is_set, chunk, job), ahead)


def _decode_all(
    ctx: ScanContext, need: list[FileRow], feeder: Any, prog: Progress, early: Early | None
) -> Iterator[Event]:
    """Decode ``need`` in the pool; features go to the catalog in batches, vectors to the
    feeder as they come. Returns how many files were done."""
    cat = ctx.cat
    paths = {r.id: r.path for r in need}
    if early is not None:
        paths.update((r.id, r.path) for r in early.rows)
    writes = Writes(cat)
    done = 0
    for fid, meta, views, err, *ml_extra in _results(ctx, need, feeder, early):
        done += 1
        if err is not None:
            writes.row(cat.set_kinds, fid, IMAGE, err)
            ctx.on_error(FileError(paths[fid], err))
        else:
            writes.row(cat.put_features, fid, META, PERCEPTUAL_VERSION, meta)  # JSON bytes
            writes.row(cat.put_features, fid, PERCEPT, PERCEPTUAL_VERSION, views)
            ctx.stats.images_decoded += 1
            if feeder is not None and ml_extra:  # ml: embeds in batches as they come
                feeder.add(fid, ml_extra[0])
        writes.maybe_flush()
        if (ev := prog.tick(done)) is not None:
            yield ev
        yield from ctx.flush_errors()
    writes.flush()
    return done


def _videos(ctx: ScanContext, video_reps: list[FileRow], feeder: Any) -> Iterator[Event]:
    """Videos: sampled in the same worker pool (video_stage.py); with ``--model`` their frames
    are embedded too (video_embed.py, by the photos' embedder)."""
    from lookalike.engine import video_stage

    t_video = time.monotonic()
    yield from video_stage.extract(
        ctx.options, ctx.cat, video_reps, ctx.thumb_path, ctx.pool, ctx.cancel, ctx.on_error
    )
    if feeder is not None and feeder.spec is not None and not ctx.cancel.is_set():
        yield from video_stage.embed(
            ctx.cat, video_reps, ctx.pool, ctx.cancel, feeder, ctx.on_error
        )
    ctx.timed("video", t_video)


def _ml_features(ctx: ScanContext, ml_opts: Any, ok_reps: list, feeder: Any) -> Iterator[Event]:
    """ml (engine/ml_stage.py): embeddings, colour, faces, quality; returns its MLState."""
    from lookalike.engine import ml_stage

    t_ml = time.monotonic()
    state = None
    for ev in ml_stage.features(
        ml_opts,
        ctx.cat,
        ok_reps,
        ctx.options.workers,
        ctx.options.max_pixels,
        ctx.cancel,
        ctx.catalog_path,
        feeder,
        ctx.pool if ctx.pool.remote_embed else None,
    ):
        if isinstance(ev, ml_stage.MLState):
            state = ev
        else:
            yield ev
    ctx.timed("embed", t_ml)
    return state


def extract(ctx: ScanContext, ex: Exact, early: Early | None = None) -> Iterator[Event]:
    """Representatives → features in the catalog; returns the ML state (None without ML).
    ``early``: photos already in the pool (early.py); their results are collected here."""
    have = early.have if early is not None else ctx.cat.feature_versions(PERCEPT)
    failed = {r.id for r in ex.reps if r.error}  # unreadable before: not tried again
    need = [r for r in ex.reps if have.get(r.id) != PERCEPTUAL_VERSION and r.id not in failed]
    for r in ex.reps:
        if r.id in failed:
            ctx.on_error(FileError(r.path, r.error or "unreadable"))
    ml_opts = ml_options(ctx)
    feeder = None
    if ml_opts is not None:  # ml: one Feeder owns the embedder; tasks carry its job
        from lookalike.engine import ml_stage

        feeder = ml_stage.Feeder(ml_opts, ctx.cat)
    sent = early.ids - {r.id for r in need} if early is not None else set()
    prog = Progress("extract", len(need) + len(sent))  # sent ⊆ need: the exact stage agrees
    done = 0
    if ctx.options.same or ctx.options.thumbnails:
        done = yield from _decode_all(ctx, need, feeder, prog, early)
    if feeder is not None:  # ml: last partial batch
        feeder.flush()
    if ex.video_reps and not ctx.cancel.is_set():
        yield from _videos(ctx, ex.video_reps, feeder)
    ctx.pool.release()  # local: the workers' memory goes back; Ray keeps its workers
    if failure := getattr(ctx.pool, "failure", None):  # Ray: no file lost, but say why
        yield Notice(
            f"the Ray pipeline failed ({failure}); {ctx.pool.driver_runs} tasks ran on this "
            "machine instead. Check the cluster's logs, or scan with --executor local",
            "warning",
        )
    yield from ctx.flush_errors()
    yield prog.done(done)
    ctx.timed("extract", prog.start)
    if ml_opts is None or ctx.cancel.is_set():
        return None
    ok_reps = [r for r in ex.reps if r.id not in failed]
    return (yield from _ml_features(ctx, ml_opts, ok_reps, feeder))
