"""Process pools (spawn context) for decode work; cancellable, and quiet on Ctrl-C."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _quiet_worker() -> None:
    """Workers ignore SIGINT (the parent decides how to stop, so no tracebacks leak out) and
    use one BLAS thread each: N workers × N threads would only fight over the cores."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for var in _THREAD_VARS:
        os.environ[var] = "1"


def run_pool(
    fn: Callable[[Any], T],
    tasks: Iterable[Any],
    workers: int,
    cancelled: Callable[[], bool],
    chunksize: int = 4,
) -> Iterator[T]:
    """Results of ``fn`` over ``tasks`` in completion order; stops early when cancelled.

    With one worker (or one task) it runs in-process: no start-up cost for tiny jobs.
    """
    tasks = list(tasks)
    if workers <= 1 or len(tasks) <= 2:
        for t in tasks:
            if cancelled():
                return
            yield fn(t)
        return
    ctx = mp.get_context("spawn")
    pool = ctx.Pool(processes=workers, initializer=_quiet_worker, maxtasksperchild=2000)
    try:
        for result in pool.imap_unordered(fn, tasks, chunksize=chunksize):
            yield result
            if cancelled():
                break
    finally:
        pool.terminate()
        pool.join()
