"""Process pools (spawn context) for decode work; cancellable, and quiet on Ctrl-C.

A scan starts its pool before walking the folders, so the workers' imports overlap with the
walk and the catalog diff instead of delaying the first decode.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import multiprocessing.pool
import os
import signal
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
MAX_CHUNK = 16  # tasks a worker takes at once (each chunk is one pickled message each way)
SMALL_CHUNK = 64  # the most tasks a chunk of small photos holds (``chunk_limit``)
CHUNK_BYTES = 2**20  # about the bytes of photo a chunk of small photos holds
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
HEAP_MMAP_BYTES = 32 * 2**20  # glibc's own ceiling for its sliding mmap threshold (64-bit)
HEAP_TRIM_BYTES = 64 * 2**20  # twice that, as glibc's sliding rule sets it


def keep_heap() -> bool:
    """Let this process's heap keep the pages a photo's arrays use, for the next photo.

    Why: a photo's arrays (the decode, its grey and float copies: ≈ 1.5 MB for a 400 px
    photo) are freed at the end of each photo, and glibc's sliding thresholds (mmap ≈ the
    largest block freed so far, trim twice that) hand them back to the kernel: ≈ 400 page
    faults and 0.6 ms of system CPU a 16 KB photo (16 % of its decode and features, issue 13,
    ``benchmarks/worker_run.py``), then the kernel zeroes the same pages again. Pinning both
    at the sliding rule's own ceiling keeps them; what a worker holds beyond its busiest
    photo is at most the trim threshold. Only glibc has ``mallopt``; elsewhere nothing
    changes (returns False)."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):  # no C library by that call, or no mallopt
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # malloc.h
    return bool(mallopt(m_mmap_threshold, HEAP_MMAP_BYTES)) and bool(
        mallopt(m_trim_threshold, HEAP_TRIM_BYTES)
    )


def chunk_size(tasks: int, workers: int, limit: int = MAX_CHUNK) -> int:
    """Tasks a worker takes at once: chunks grow with the work, up to ``limit``."""
    return max(1, min(limit, tasks // (8 * max(1, workers))))


def chunk_limit(sizes: Sequence[int]) -> int:
    """The most photos of these byte ``sizes`` a chunk holds: about CHUNK_BYTES of them, from
    MAX_CHUNK (photos of 64 KB and more on average: as ever) up to SMALL_CHUNK.

    Why: a chunk is one message each way, and a message cost the driver ≈ 0.18 ms of CPU
    (its pool's threads: pickles, pipes, wake-ups), taken from the decoding workers on a box
    whose cores all decode. On 16 KB photos (≈ 3 ms a decode) chunks of 64 took the driver
    0.0065 ms a photo against 0.0149 for chunks of 16 (``benchmarks/pool_chunks.py``, issue
    13), ≈ 0.9 s of CPU at 100k; what a worker may finish ahead of the other at the end is
    still a chunk: ≈ 0.2 s. Big photos (a decode of tens of ms) keep chunks of 16, whose
    messages cost nothing next to them and whose tail a bigger chunk would lengthen."""
    if not sizes:
        return MAX_CHUNK
    mean = sum(sizes) / len(sizes)
    return max(MAX_CHUNK, min(SMALL_CHUNK, int(CHUNK_BYTES // max(mean, 1))))


def _quiet_worker(warm: str | None = None) -> None:
    """Workers ignore SIGINT (the parent decides how to stop, so no tracebacks leak out), use
    one BLAS thread and one OpenCV thread each (N workers × N threads would only fight over
    the cores: OpenCV's own pool is one thread a core in every process, 16 × 16 on a 16-core
    box; the pool is the parallelism, and OpenCV's results do not depend on its thread
    count) and keep their heap's pages from one photo to the next (``keep_heap``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for var in _THREAD_VARS:
        os.environ[var] = "1"
    import cv2  # the decoder's and every feature's; a worker imports it anyway

    cv2.setNumThreads(1)
    keep_heap()
    if warm:
        __import__(warm)  # pay the imports now, while the parent walks the folders


class _Pool(multiprocessing.pool.Pool):
    """``multiprocessing.Pool`` whose worker-handler thread sleeps until a worker exits or the
    pool's state changes.

    Why: the stock pool (CPython 3.8+) also wakes that thread on the result pipe, so while a
    result waits for the result-handler thread it spins (wait → maintain pool → wait). On small
    photos that cost the driver ≈ 0.1 ms of CPU a file — on a box whose cores all decode,
    taken from the workers (issue 13: 0.09–0.12 → 0.013–0.015 ms a task, 2 workers, 16-task
    chunks). Nothing else needs that wake-up: results are read by the result handler, an
    emptied task cache and close/terminate ring the change notifier, worker exits (also
    ``maxtasksperchild``) their sentinels."""

    def _get_sentinels(self) -> list[Any]:
        return [self._change_notifier._reader]


class DecodePool:
    """A spawn pool started on demand (or early, with ``start``) and always torn down."""

    remote_embed = False  # the driver embeds what map() returns (ml_stage.Feeder)

    def __init__(self, workers: int, warm_module: str | None = None) -> None:
        self.workers = workers
        self.warm_module = warm_module
        self._pool: Any = None

    def start(self) -> None:
        if self._pool is None and self.workers > 1:
            self._pool = _Pool(
                processes=self.workers,
                initializer=_quiet_worker,
                initargs=(self.warm_module,),
                maxtasksperchild=2000,  # chunks (≤ 128k photos): bounds what a leak could hold
                context=mp.get_context("spawn"),
            )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def release(self) -> None:
        """Between stages: the workers' memory goes back now (a later stage restarts them)."""
        self.close()

    def __enter__(self) -> DecodePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def map(
        self,
        fn: Callable[[Any], T],
        tasks: Iterable[Any],
        cancelled: Callable[[], bool],
        chunksize: int | None = None,
        embed: Any = None,
    ) -> Iterator[T]:
        """Results of ``fn`` over ``tasks`` in completion order; stops early when cancelled.
        ``embed`` is for pools that embed on their workers (RayPool); here the model inputs
        come back as they are and the driver embeds them.

        With one worker, or a couple of tasks and no pool yet, it runs in-process. Without a
        ``chunksize``, chunks grow with the work (up to MAX_CHUNK tasks): on small photos a
        round trip per few files cost the driver and the workers more than a decode does.
        """
        tasks = list(tasks)
        if chunksize is None:
            chunksize = chunk_size(len(tasks), self.workers)
        if self.workers <= 1 or (self._pool is None and len(tasks) <= 2):
            for t in tasks:
                if cancelled():
                    return
                yield fn(t)
            return
        self.start()
        yield from _until(self._pool.imap_unordered(fn, tasks, chunksize=chunksize), cancelled)

    def apply(self, fn: Callable[[Any], T], task: Any, done: Callable[[Any], None]) -> None:
        """Send one task to the workers now; ``done`` later gets its result, or the exception
        it raised, on the pool's result thread (verify_ahead.py: tasks sent as workers free
        up, not as one batch). Needs a pool of its own (more than one worker)."""
        self.start()
        self._pool.apply_async(fn, (task,), callback=done, error_callback=done)

    def submit(
        self,
        fn: Callable[[Any], T],
        tasks: Iterable[Any],
        cancelled: Callable[[], bool],
        chunksize: int | None = None,
    ) -> Iterator[T]:
        """Like ``map``, but the tasks go to the workers now, not when the first result is
        asked for: the pool decodes while the driver does other work (stages/early.py).
        Needs a pool of its own (more than one worker)."""
        tasks = list(tasks)
        if chunksize is None:
            chunksize = chunk_size(len(tasks), self.workers)
        self.start()
        it = self._pool.imap_unordered(fn, tasks, chunksize=chunksize)
        return _until(it, cancelled)


def _until(results: Iterator[T], cancelled: Callable[[], bool]) -> Iterator[T]:
    """``results`` until the scan is cancelled (checked after each result)."""
    for result in results:
        yield result
        if cancelled():
            break


def make_pool(options: Any) -> Any:
    """The scan's decode pool: local processes, or a Ray Data pipeline (ray_pool.py) for
    ``--executor ray`` / ``ray://HOST:PORT``; both have start / map / release / close."""
    if options.executor == "local":
        return DecodePool(options.workers, "lookalike.engine.stages.extract_worker")
    from lookalike.engine.ray_pool import RayPool

    return RayPool(options.executor, options.workers, options.remote_roots)


def run_pool(
    fn: Callable[[Any], T],
    tasks: Iterable[Any],
    workers: int,
    cancelled: Callable[[], bool],
    chunksize: int = 4,
) -> Iterator[T]:
    """One-shot helper: a pool for just these tasks."""
    with DecodePool(workers) as pool:
        yield from pool.map(fn, tasks, cancelled, chunksize)
