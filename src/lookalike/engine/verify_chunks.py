"""The embedding candidates' geometric checks, cut into worker tasks so each file is prepared
(decoded + ORB) about once, not once per pair.

Why: the candidates arrive as (a, b) pairs sorted by id; chunked in that order, ``a`` repeats
within a chunk but every ``b`` was prepared again in each chunk it met, ~1 prepare per pair
(measured: ~1/4 of a check's CPU, and 9 977 checks at ~100/s dominated a GPU box's scan).
Here the files of the candidate graph are numbered breadth-first from each component's
smallest id, so a file's neighbours get nearby numbers, and pairs go in that order: a chunk's
pairs share their files, and consecutive chunks share most of theirs. Each worker process keeps
one :class:`Verifier` across chunks (an LRU keyed by path, size and mtime), so a file met again
in a later chunk is usually still prepared. Verdicts do not depend on the order: a check is a
pure function of its two files (and of which one is ``a``, which is kept).
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Sequence
from typing import Any

VERIFY_CHUNK = 24  # pairs per worker task: progress and cancel stay fine-grained
# Prepared files a verify worker keeps (count, MB). An entry was ≈ 0.4 MB whatever the photo's
# size (grey at WORK_SIDE, its fill mask, a mirror counted ahead), so 96 MB held ≈ 240 files,
# and across cliques.link's rounds a check prepared 1.58 files (1 000-file set, 2 workers):
# 12.4 ms of worker CPU a check. At 256 MB, 0.53 and 7.9 ms (docs/benchmarks.md, session 11).
# Session 12: an empty fill mask holds nothing and the mirror's pixels are views, ≈ 0.2 MB an
# entry, so the bytes bound (≈ 1 300 files), not the count.
VERIFY_CACHE, VERIFY_CACHE_MB = 4096, 256

_verifier: Any = None  # this process's Verifier, kept across chunks and rounds of pairs


def local_order(pairs: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The same pairs (each keeps its orientation), ordered so pairs that share files are
    near each other: breadth-first numbering of the pair graph, then by (lower, higher)."""
    adj: dict[int, list[int]] = defaultdict(list)
    for a, b in pairs:
        adj[a].append(b)
        adj[b].append(a)
    pos: dict[int, int] = {}
    for start in sorted(adj):
        if start in pos:
            continue
        pos[start] = len(pos)
        queue = deque([start])
        while queue:
            for y in sorted(adj[queue.popleft()]):
                if y not in pos:
                    pos[y] = len(pos)
                    queue.append(y)

    def key(p: tuple[int, int]) -> tuple[int, int]:
        i, j = pos[p[0]], pos[p[1]]
        return (i, j) if i < j else (j, i)

    return sorted(pairs, key=key)


def chunks_of(
    pairs: Sequence[tuple[int, int]],
    paths: dict[int, str],
    size: int = VERIFY_CHUNK,
    workers: int = 1,
) -> list[list[tuple[int, int, str, str]]]:
    """Worker tasks for :func:`verify_task`, in :func:`local_order`. A round with fewer than
    ``workers × size`` pairs is cut finer, so each worker gets a share: on a 16-core box a
    round of 12 pairs was one task (one worker busy, 0.29 s median) while 15 idled, and a
    round of 256 pairs left 5 of them idle."""
    todo = local_order(pairs)
    size = max(1, min(size, -(-len(todo) // max(1, workers))))
    return [
        [(a, b, paths[a], paths[b]) for a, b in todo[i : i + size]]
        for i in range(0, len(todo), size)
    ]


def verify_task(
    chunk: list[tuple[int, int, str, str]],
) -> list[tuple[int, int, bool | None, float]]:
    """Worker side: (a, b, same, score) for each pair. One Verifier per process, not per chunk:
    a file meets up to ~2 × CANDIDATE_K candidates, usually in several chunks."""
    global _verifier
    from lookalike.engine.features.verify import Verifier

    if _verifier is None:  # a pool worker runs OpenCV on one thread (pool._quiet_worker)
        _verifier = Verifier(cache_size=VERIFY_CACHE, cache_mb=VERIFY_CACHE_MB)
    out = []
    for a, b, pa, pb in chunk:
        # only the verdict and a same pair's score are kept: a vote stops once it differs
        r = _verifier.verify(pa, pb, verdict_only=True)
        out.append((a, b, r.same, r.score))
    return out


def verify_counted(
    chunk: list[tuple[int, int, str, str]],
) -> tuple[list[tuple[int, int, bool | None, float]], float, int, int]:
    """:func:`verify_task`, plus this process's CPU seconds in it, the files it prepared
    (decoded + ORB: the worker's prepared-file cache missed) and its peak RSS (KiB), for the
    stage's figures."""
    cpu, before = time.process_time(), _verifier.prepared if _verifier is not None else 0
    out = verify_task(chunk)
    return out, time.process_time() - cpu, _verifier.prepared - before, _peak_kib()


def _peak_kib() -> int:
    """This process's peak RSS (VmHWM; 0 where there is no /proc). Not ru_maxrss: a spawned
    worker's keeps the driver's peak from before its exec."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            return next((int(ln.split()[1]) for ln in f if ln.startswith("VmHWM:")), 0)
    except OSError:
        return 0
