"""The verify stage's rounds: pools started, rounds, pairs a round, wall and workers' CPU.

Why (issue 13): the embedding candidates' checks run in ``cliques.link`` rounds; until session
10 each round started its own spawn pool (``run_pool``), so every round paid the workers'
start-up and imports and lost their prepared-file caches. This runs one ``--model`` scan
in this process, with a fresh catalog, and counts around the verify stage (``ml_groups.edges``):
pool starts (``DecodePool.start`` that made a pool), rounds (``_SameEdges.run_checks`` calls
with fresh checks) and their pairs, the stage's wall, and the CPU of the processes it ran
(children's rusage: its pools are joined before the stage ends). Run it with another
engine's ``src`` first on PYTHONPATH to compare (the same set, back to back).

Session 11 (verifying ahead, verify_ahead.py): ``ahead`` holds the guesses sent, read and
never read (their share of the checks asked), the workers' CPU inside the checks
(``check_cpu_s``: the rest of ``workers_cpu_s`` is the workers' start, imports and IPC) and the
files they prepared (prepared-file cache misses), ``idle_slot_s`` the worker-seconds no task
was there to run while the stage waited (the barriers' cost); ``round_sizes`` the rounds' pairs
by size. On an engine without it, ``ahead`` is null. ``--no-ahead`` sends no guesses (the same
engine with its rounds as barriers, for an A/B). ``--candidate-k`` / ``--candidate-threshold``
check fewer embedding neighbours (session 12; ``verify_candidates.py --against`` compares the
kept catalogs' verified pairs and groups).

    python benchmarks/verify_rounds.py /tmp/lookalike-scale/m1000/{photos,copies} --workers 2
    python benchmarks/verify_rounds.py PHOTOS COPIES --workers 14 --device cuda -o verify.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from lookalike.engine import ml_groups, pool


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def instrument(stats: dict) -> None:
    """Wrap the pool start, the rounds' checks and the stage (counts into ``stats``)."""
    start = pool.DecodePool.start

    def counted_start(self: pool.DecodePool) -> None:
        if self._pool is None and self.workers > 1:
            stats["pool_starts"] += 1
        start(self)

    pool.DecodePool.start = counted_start  # type: ignore[method-assign]
    run_checks = ml_groups._SameEdges.run_checks

    def counted_checks(self, pairs, *args):  # type: ignore[no-untyped-def]
        before, t0 = self.checked, time.monotonic()
        yield from run_checks(self, pairs, *args)
        if self.checked > before:
            stats["rounds"].append((self.checked - before, round(time.monotonic() - t0, 3)))

    ml_groups._SameEdges.run_checks = counted_checks  # type: ignore[method-assign]
    init = ml_groups._SameEdges.__init__

    def kept_init(self, *args, **kw):  # type: ignore[no-untyped-def]
        init(self, *args, **kw)
        stats["_stage"] = self

    ml_groups._SameEdges.__init__ = kept_init  # type: ignore[method-assign]
    edges = ml_groups.edges

    def timed_edges(*args, **kw):  # type: ignore[no-untyped-def]
        t0, c0, s0 = time.monotonic(), _children_cpu(), _self_cpu()
        for ev in edges(*args, **kw):
            if type(ev).__name__ == "StageDone":
                stats["checks"] = ev.count
            yield ev
        stats["verify_wall_s"] = round(time.monotonic() - t0, 2)
        stats["workers_cpu_s"] = round(_children_cpu() - c0, 2)
        stats["driver_cpu_s"] = round(_self_cpu() - s0, 2)

    ml_groups.edges = timed_edges


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", type=Path, nargs="+")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--model", default="effnet-lite0")
    ap.add_argument("--device", default="auto", help="the embedding's device (auto|cpu|cuda)")
    ap.add_argument(
        "--db", type=Path, help="scan into this new catalog and keep it (verify_rate.py)"
    )
    ap.add_argument(
        "--no-ahead", action="store_true", help="send no guesses (the rounds as barriers: A/B)"
    )
    ap.add_argument("--candidate-k", type=int, help="embedding neighbours checked a file (A/B)")
    ap.add_argument("--candidate-threshold", type=float, help="their cosine floor (A/B)")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args(argv)
    if args.candidate_k is not None:
        ml_groups.CANDIDATE_K = args.candidate_k  # type: ignore[misc]
    if args.candidate_threshold is not None:
        ml_groups.CANDIDATE_THRESHOLD = dict.fromkeys(  # type: ignore[misc]
            ml_groups.CANDIDATE_THRESHOLD, args.candidate_threshold
        )
    stats_k = {"candidate_k": ml_groups.CANDIDATE_K, "threshold": ml_groups.CANDIDATE_THRESHOLD}
    stats: dict = {"pool_starts": 0, "rounds": [], "engine": ml_groups.__file__, **stats_k}
    stats.update(workers=args.workers, device=args.device, cpus=os.cpu_count())
    instrument(stats)
    if args.no_ahead:
        from lookalike.engine import verify_ahead

        verify_ahead.AheadChecks._allowance = lambda self: 0  # type: ignore[method-assign]
    stats["no_ahead"] = args.no_ahead
    from lookalike.cli import main as cli

    with tempfile.TemporaryDirectory() as tmp:
        db = str(args.db or Path(tmp) / "catalog.db")
        if args.db and args.db.exists():
            ap.error(f"{args.db} exists: the scan must start from a fresh catalog")
        scan = ["scan", "--no-ui", *map(str, args.folders), "--db", db, "--model", args.model]
        scan += ["--device", args.device]
        try:
            cli([*scan, "--workers", str(args.workers)], standalone_mode=False)
        except SystemExit:
            pass
    stage = stats.pop("_stage", None)
    ahead = getattr(stage, "ahead", None)
    stats["ahead"] = ahead.summary() if ahead is not None else None
    pairs = [n for n, _ in stats["rounds"]]
    edges = (1, 8, 24, 48, 256, 1024)
    stats["round_sizes"] = {
        f"<={e}": sum(1 for n in pairs if lo < n <= e)
        for lo, e in zip((0, *edges[:-1]), edges, strict=True)
    }
    stats["round_sizes"][f">{edges[-1]}"] = sum(1 for n in pairs if n > edges[-1])
    stats["round_count"] = len(pairs)
    stats["pairs_checked"] = sum(pairs)
    stats["rounds_wall_s"] = round(sum(w for _, w in stats["rounds"]), 2)
    if stats.get("verify_wall_s"):
        stats["checks_per_s"] = round(sum(pairs) / stats["verify_wall_s"], 1)
        stats["worker_cpu_ms_a_check"] = round(
            1000 * stats["workers_cpu_s"] / max(1, sum(pairs)), 1
        )
    text = json.dumps(stats, indent=1)
    print(text, file=sys.stderr)
    if args.output:
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
