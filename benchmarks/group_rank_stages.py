"""The group and rank stages of a first scan, alone, on a copy of a scanned catalog.

Why: at 100k files these two stages run on the driver while the decode workers sit idle
(issue 13), and measuring them by scanning again costs a whole scan. Here the scan's walk and
catalog diff are replaced by the catalog's own rows (the files are not listed, read or
stat'ed; every feature is stored, so the extract stage decodes nothing), the copy has no
record of a last grouping (so the whole collection is grouped and ranked as on a first scan),
and the consumer only counts the groups (``--consumer json``: the CLI's ``--no-ui --format json``
writer, through the engine's scan thread, as ``scale.py``'s scans run): the figures are the two
stages' wall and CPU (the process's, so faiss's threads and the writer count; the pool workers'
CPU beside it: the rank stage judges groups there, engine/rank_pool.py), the cyclic
collector's passes and seconds in each, and a digest of every group built, to compare two
trees' outputs, and of the pixel re-checks the catalog remembers after it; ``group_parts``:
the wall and driver-thread CPU of the group stage's pieces (``PARTS``); ``keeper_check``:
the rank stage's check of each "same" member against its keeper (its counts and CPU). Pixel re-checks
missing from the catalog's pair checks are decoded (a handful; ``--fresh-checks``: all of
them, as on a first scan, counted in ``rechecks_in_pool``: in rounds, or streamed as found).

    nice -n 10 python benchmarks/group_rank_stages.py /tmp/lookalike-scale/m100000/run/catalog.db
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import hashlib
import itertools
import json
import resource
import sqlite3
import sys
import threading
import time
from pathlib import Path

from emit import emit, on_catalog_copy


class _Collector:
    """The cyclic collector's passes (by generation) and seconds while a timed stage runs:
    after the extract the driver holds many long-lived objects, and each full pass walks them."""

    def __init__(self) -> None:
        self.stage: str | None = None
        self.by_stage: dict[str, dict] = {}
        self._t = 0.0
        gc.callbacks.append(self._tick)

    def _tick(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t = time.thread_time()
        else:  # outside a timed stage: the scan's other stages, or the setup
            s = self.by_stage.setdefault(
                self.stage or "other", {"passes": [0, 0, 0], "seconds": 0.0}
            )
            s["passes"][info["generation"]] += 1
            s["seconds"] = round(s["seconds"] + time.thread_time() - self._t, 3)


def _workers_cpu() -> float:
    """CPU seconds of this process's live children (the pool's workers): with the rank
    stage's groups judged on them (engine/rank_pool.py) the driver's CPU is not all of it."""
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            t = child.cpu_times()
            total += t.user + t.system
    return total


class _Timeline:
    """``--timeline``: the driver's and the workers' CPU (cores busy) every ``STEP`` seconds
    and the stages' bounds, so a run shows where a core idles (issue 13: a second of wall in
    which one of the two cores idles costs a whole second; with both busy, half of one):
    ``idle_core_s`` per stage is Σ max(0, cores − driver − workers) · step. Only on an idle
    box: other load takes the cores and reads as idle here."""

    STEP = 0.25

    def __init__(self) -> None:
        import psutil

        self.me, self.t0 = psutil.Process(), time.perf_counter()
        self.samples: list[tuple[float, float, float]] = []
        self.bounds: dict[str, list[float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="timeline", daemon=True)
        self._thread.start()

    def _now(self) -> tuple[float, float, float]:
        c = self.me.cpu_times()
        return time.perf_counter() - self.t0, c.user + c.system, _workers_cpu()

    def _run(self) -> None:
        while not self._stop.wait(self.STEP):
            self.samples.append(self._now())

    def mark(self, stage: str, end: bool) -> None:
        self.bounds.setdefault(stage, [0.0, 0.0])[int(end)] = time.perf_counter() - self.t0

    def report(self) -> dict:
        import os

        self._stop.set()
        self._thread.join()
        cores, rows = os.cpu_count() or 1, []
        for (t0, d0, w0), (t1, d1, w1) in itertools.pairwise(self.samples):
            dt, w = t1 - t0, max(0.0, w1 - w0)  # a worker gone between samples: its CPU too
            rows.append((round(t0, 2), round((d1 - d0) / dt, 2), round(w / dt, 2), dt))
        idle = {
            stage: round(
                sum(max(0.0, cores - d - w) * dt for t, d, w, dt in rows if lo <= t < hi), 2
            )
            for stage, (lo, hi) in self.bounds.items()
        }
        return {
            "cores": cores,
            "stages": {k: [round(a, 2), round(b, 2)] for k, (a, b) in self.bounds.items()},
            "idle_core_s": idle,
            "busy": [r[:3] for r in rows],  # (s since start, driver cores, workers' cores)
        }


_TIMELINE: list[_Timeline] = []  # the run's, with --timeline
_PROFILED: dict[str, object] = {}  # --profile STAGE: that stage's cProfile.Profile


def _profile_top(prof: object, n: int = 14) -> list:
    """The profiled stage's thread, by own time: [calls, own s, cumulative s, function]. A
    C call's own time is its wall, a wait for the GIL it dropped included (the rank stage's
    SQLite steps and event-loop wake-ups, with the consumer's thread beside it)."""
    import pstats

    stats = pstats.Stats(prof).stats  # type: ignore[arg-type]
    rows = sorted(stats.items(), key=lambda kv: -kv[1][2])[:n]
    return [
        [nc, round(tt, 3), round(ct, 3), f"{Path(f).name}:{line}({fn})"]
        for (f, line, fn), (_, nc, tt, ct, _) in rows
    ]


_STARTED: dict[str, tuple[float, float]] = {}  # stage → (wall, driver CPU) when it began


def _timed(times: dict, name: str, stage, collector: _Collector):
    """The stage generator, its wall and CPU seconds (the driver's, and its workers' beside
    it) and the collector's passes and CPU seconds, recorded when it returns."""

    def wrapper(*args, **kwargs):
        wall, cpu, workers = time.perf_counter(), time.process_time(), _workers_cpu()
        _STARTED[name] = (wall, cpu)
        collector.stage = name
        for tl in _TIMELINE:
            tl.mark(name, end=False)
        prof = _PROFILED.get(name)
        if prof is not None:  # the stage's own thread (a generator resumes on it)
            prof.enable()  # type: ignore[attr-defined]
        out = yield from stage(*args, **kwargs)
        if prof is not None:
            prof.disable()  # type: ignore[attr-defined]
        for tl in _TIMELINE:
            tl.mark(name, end=True)
        collector.stage = None
        times[name] = {
            "wall_s": round(time.perf_counter() - wall, 2),
            "cpu_s": round(time.process_time() - cpu, 2),
            "workers_cpu_s": round(_workers_cpu() - workers, 2),
            "gc": collector.by_stage.get(name, {"passes": [0, 0, 0], "seconds": 0.0}),
        }
        return out

    return wrapper


def _catalog_rows(ctx, found):
    """The diff stage's output from the catalog alone: every file row, those with a kind."""
    from lookalike.engine.stages.diff import Diffed

    ids = [i for (i,) in ctx.cat.db.execute("SELECT id FROM files")]
    rows = ctx.cat.files_by_ids(ids)
    media = sorted((r for r in rows.values() if r.kind), key=lambda r: r.path)
    return Diffed(rows, media, None)
    yield  # a generator, as the stage it stands for


def _nothing_found(ctx):
    return None
    yield


def _count_streamed(stats: dict) -> None:
    """Re-checks sent to the pool as the grouper finds them (engine/recheck_stream.py):
    pairs sent, the wall the rounds waited on them (the driver idle meanwhile), and the
    group stage's wall and driver CPU (all its threads) when the first went out."""
    try:
        from lookalike.engine.recheck_stream import StreamedChecks
    except ImportError:  # a tree from before it (an A/B run): rounds only
        return
    send, wait = StreamedChecks._send, StreamedChecks.wait

    def sent(self, pairs):  # type: ignore[no-untyped-def]
        if "first_send" not in stats and "group" in _STARTED:  # until then one core idles
            wall, cpu = _STARTED["group"]
            stats["first_send"] = {
                "wall_s": round(time.perf_counter() - wall, 2),
                "driver_cpu_s": round(time.process_time() - cpu, 2),
                "pairs": len(pairs),
            }
        stats["streamed_pairs"] += len(pairs)
        return send(self, pairs)

    def waited(self, pairs, cancelled):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        yield from wait(self, pairs, cancelled)
        stats["stream_wait_s"] = round(stats["stream_wait_s"] + time.perf_counter() - t, 2)

    StreamedChecks._send, StreamedChecks.wait = sent, waited


def _checks_digest(catalog: Path) -> tuple[int, str]:
    """The remembered pixel re-checks after the run (pairs and verdicts, not their times):
    how many (with ``--fresh-checks``: those the grouper asked) and their digest."""
    digest, count = hashlib.blake2b(digest_size=16), 0
    with sqlite3.connect(catalog) as db:
        for row in db.execute("SELECT a, b, same FROM pair_checks ORDER BY a, b"):
            digest.update(repr(row).encode())
            count += 1
    return count, digest.hexdigest()


PARTS = (  # the group stage's pieces on the driver, in the order they run
    ("lookalike.engine.stages.group", "_not_grouping"),
    ("lookalike.engine.stages.group", "_items"),
    ("lookalike.engine.group_parts", "signatures"),
    ("lookalike.engine.grouping", "candidate_array"),  # a tree before searched_beside
    ("lookalike.engine.candidates", "candidate_array"),  # in a thread, beside the stamps
    ("lookalike.engine.group_parts", "stamps"),
    ("lookalike.engine.grouping", "_accept"),
)


def _time_parts(parts: dict) -> None:
    """Wall and thread CPU of the group stage's pieces (``PARTS``), where they ran (the
    candidate search's in its own thread): which of the driver's work comes before the first
    re-check can be sent, and what overlaps it."""
    import importlib

    for module, name in PARTS:
        mod = importlib.import_module(module)
        real = getattr(mod, name, None)
        if real is None:  # another tree's layout (an A/B run)
            continue

        def timed(*args, _real=real, _name=name, **kwargs):  # type: ignore[no-untyped-def]
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return _real(*args, **kwargs)
            finally:
                parts[_name] = {
                    "wall_s": round(time.perf_counter() - wall, 2),
                    "cpu_s": round(time.thread_time() - cpu, 2),
                }

        setattr(mod, name, timed)


def _count_rechecks(stats: dict) -> None:
    """The group stage's pixel re-checks sent to the pool: calls, pairs, and the wall the
    stage waited on them (the driver is idle meanwhile)."""
    from lookalike.engine.stages import group

    _count_streamed(stats)

    pooled = group._recheck_in_pool

    def counted(ctx, recheck, need, token):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        stats["pool_calls"] += 1
        stats["pool_pairs"] += len(need)
        yield from pooled(ctx, recheck, need, token)
        stats["pool_wall_s"] = round(stats["pool_wall_s"] + time.perf_counter() - t, 2)

    group._recheck_in_pool = counted


def _count_keeper_checks(stats: dict) -> None:
    """The rank stage's keeper check (engine/keeper_check.py, absent in an older tree): its
    counts and the driver-thread CPU its ``strays`` calls took, pixel checks included."""
    try:
        from lookalike.engine.keeper_check import KeeperCheck
    except ImportError:
        return
    real = KeeperCheck.strays

    def timed(self, rids, keep_rep):  # type: ignore[no-untyped-def]
        cpu = time.thread_time()
        try:
            return real(self, rids, keep_rep)
        finally:
            stats["_cpu"] = stats.get("_cpu", 0.0) + time.thread_time() - cpu
            stats["cpu_s"] = round(stats["_cpu"], 3)
            c = self.counts
            stats.update((k, v) for k, v in vars(c).items() if k != "split")
            stats["split_sizes"] = sorted(c.split)

    KeeperCheck.strays = timed


def _digest_events(options, catalog: Path) -> tuple[int, str]:
    """Consumer "digest": every GroupFound's dataclass, hashed (the figures up to 2026-11-27)."""
    from lookalike.engine import pipeline

    digest, groups = hashlib.blake2b(digest_size=16), 0
    for ev in pipeline.run_scan(options, catalog, catalog.parent / "thumbs", threading.Event()):
        if type(ev).__name__ == "GroupFound":
            groups += 1
            digest.update(json.dumps(dataclasses.asdict(ev.group), default=str).encode())
    return groups, digest.hexdigest()


def _digest_json(options, catalog: Path) -> tuple[int, str]:
    """Consumer "json": the Engine's scan thread and the headless ``--format json`` writer, as
    ``lookalike scan --no-ui`` runs them; the digest is of the written groups' bytes."""
    from lookalike.engine.api import Engine
    from lookalike.headless.runner import run_scan

    out = catalog.parent / "out.json"
    with out.open("w") as f:
        res = run_scan(Engine(catalog, catalog.parent / "thumbs"), options, "json", f, None, "none")
    text = out.read_text()
    groups = text[: text.index('\n ],\n "errors"')] if res.finished.groups else ""
    return len(res.finished.groups), hashlib.blake2b(groups.encode(), digest_size=16).hexdigest()


def run(
    catalog: Path,
    workers: int,
    fresh_checks: bool = False,
    consumer: str = "digest",
    plain_gc: bool = False,
    timeline: bool = False,
    profile: str | None = None,
) -> dict:
    from lookalike.engine import pipeline
    from lookalike.engine.options import ScanOptions

    if plain_gc:  # the collector as before engine/heap.py: nothing frozen (an older tree
        from lookalike.engine import heap  # has no heap.py: run it without --gc plain)

        heap.long_lived_frozen = contextlib.nullcontext

    times: dict = {}
    rechecks = {"pool_calls": 0, "pool_pairs": 0, "pool_wall_s": 0.0}
    rechecks |= {"streamed_pairs": 0, "stream_wait_s": 0.0}
    _count_rechecks(rechecks)
    parts: dict = {}
    _time_parts(parts)
    keeper: dict = {}
    _count_keeper_checks(keeper)
    pipeline.discover, pipeline.diff = _nothing_found, _catalog_rows
    collector = _Collector()
    for name in ("group", "rank"):
        setattr(pipeline, name, _timed(times, name, getattr(pipeline, name), collector))
    with sqlite3.connect(catalog) as db:
        (roots,) = db.execute("SELECT roots FROM scans ORDER BY id LIMIT 1").fetchone()
        db.execute("DELETE FROM meta WHERE key IN ('groups_parts', 'groups_reuse')")
        if fresh_checks:  # as on a first scan: no pixel re-check remembered
            db.execute("DELETE FROM pair_checks")
    options = ScanOptions(roots=tuple(Path(r) for r in json.loads(roots)), workers=workers)
    if timeline:
        _TIMELINE.append(_Timeline())
    if profile:
        import cProfile

        _PROFILED[profile] = cProfile.Profile()
    wall = time.perf_counter()
    groups, digest = (_digest_json if consumer == "json" else _digest_events)(options, catalog)
    extra = {"timeline": _TIMELINE.pop().report()} if timeline else {}
    if profile:
        extra["profile"] = {profile: _profile_top(_PROFILED.pop(profile))}
    return extra | {
        "stages": times,
        "rechecks_in_pool": rechecks,
        "gc_elsewhere": collector.by_stage.get("other"),  # diff, extract, heap.py's collect
        "group_parts": parts,
        "keeper_check": {k: v for k, v in keeper.items() if k != "_cpu"},
        "consumer": consumer,
        "gc": "plain" if plain_gc else "pipeline",
        "groups": groups,
        "groups_digest": digest,
        **dict(zip(("checks_remembered", "checks_digest"), _checks_digest(catalog), strict=True)),
        "run_wall_s": round(time.perf_counter() - wall, 2),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("catalog", type=Path, help="a scanned catalog (copied, never written)")
    ap.add_argument("--workers", type=int, default=2, help="the pool's, for pixel re-checks")
    ap.add_argument(
        "--fresh-checks",
        action="store_true",
        help="forget the copy's remembered pixel re-checks, as a first scan has none",
    )
    ap.add_argument(
        "--consumer",
        choices=("digest", "json"),
        default="digest",
        help="digest: hash each group's dataclass; json: the CLI's --format json writer",
    )
    ap.add_argument(
        "--gc",
        choices=("pipeline", "plain"),
        default="pipeline",
        help="pipeline: the scan's own collector handling (engine/heap.py); plain: none",
    )
    ap.add_argument(
        "--timeline",
        action="store_true",
        help="the driver's and workers' cores busy every 0.25 s; idle core-seconds a stage",
    )
    ap.add_argument(
        "--profile",
        choices=("group", "rank"),
        help="cProfile that stage's thread; its functions by own time in the output",
    )
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args(argv)
    out = on_catalog_copy(
        args.catalog,
        "lk-group-rank-",
        lambda copy: run(
            copy,
            args.workers,
            args.fresh_checks,
            args.consumer,
            args.gc == "plain",
            args.timeline,
            args.profile,
        ),
    )
    out |= {"script": "benchmarks/group_rank_stages.py", "argv": sys.argv[1:]}
    return emit(out, args.output)


if __name__ == "__main__":
    raise SystemExit(main())
