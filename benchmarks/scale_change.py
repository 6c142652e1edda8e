"""A rescan after a few files were added: the group and rank stages regrouping only the parts
the new files touch (engine/group_parts.py) against a full regroup of the same catalog.

Why: users rescan nightly after adding a day's photos; before session 9 such a rescan
regrouped and reranked the whole collection. The set is scale.py's (``--count`` derived
JPEGs + planted copies, same folders); this script scans it from scratch into its own folder
(``run-change``, so a scale.py run beside it keeps its own), then writes ``--add`` new files
into a folder of its own — half JPEG re-saves (q60) of photos of the set (they join stored
groups or make new ones), half new mosaics — and rescans twice from copies of the same
catalog: by parts (the default) and as a full regroup (``LOOKALIKE_REUSE_GROUPS=0``). Both
decode the same new files; the figures compared are the group and rank stages' seconds and
the wall time, and the two outputs' groups must be identical.

``--from-catalog`` starts from a copy of a catalog that already scanned the set (scale.py's
``run/catalog.db``; its thumbnail cache is hard-linked, not copied) instead of scanning it
from scratch (12+ minutes at 100k): the first scan is then a rescan of that copy with the
added files' (still empty) folder as a new root, a full regroup that writes the record the
later rescans start from.

    python benchmarks/scale_change.py --count 10000 --add 20 --workers 2 -o out.json
    python benchmarks/scale_change.py --count 100000 --add 20 --workers 2 \
        --from-catalog /tmp/lookalike-scale/m100000/run/catalog.db --work /tmp/me-change
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sqlite3
import sys
import time
from pathlib import Path

import psutil

import scale


def _add_files(root: Path, added: Path, n: int, seed: int) -> None:
    """``n`` new files: re-saves of photos of the set, and new mosaics."""
    rng = random.Random(seed)
    photos = sorted((root / "photos").rglob("*.jpg"))
    srcs = scale._sources()
    for k in range(n):
        path = added / f"new{k:05d}.jpg"
        if k % 2 == 0:
            with scale.Image.open(rng.choice(photos)) as im:
                im.convert("RGB").save(path, quality=60)
        else:
            scale._mosaic(srcs, rng).save(path, quality=90)


def _copy_db(db: Path, to: Path) -> None:
    """The catalog with its WAL (no scan has it open)."""
    for f in db.parent.glob(db.name + "*"):
        shutil.copy(f, to / f.name)


def _start_from(db: Path, work: Path) -> None:
    """A copy of a scanned catalog (no scan may have it open) in ``work``, its thumbnails
    hard-linked; the source is only read."""
    for suffix in ("", "-wal"):
        if (src := db.parent / (db.name + suffix)).exists():
            shutil.copy(src, work / ("catalog.db" + suffix))
    with sqlite3.connect(work / "catalog.db") as con:  # the copy's WAL folded in
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    cache = db.parent / "cache"
    if cache.is_dir():
        shutil.copytree(cache, work / "cache", copy_function=os.link)


def _rescan(root: Path, db: Path, out: Path, workers: int, extra: list, full: bool) -> dict:
    saved = os.environ.get("LOOKALIKE_REUSE_GROUPS")
    if full:
        os.environ["LOOKALIKE_REUSE_GROUPS"] = "0"
    try:
        r = scale.scan(root, db, out, workers, extra)
    finally:
        if saved is None:
            os.environ.pop("LOOKALIKE_REUSE_GROUPS", None)
        else:
            os.environ["LOOKALIKE_REUSE_GROUPS"] = saved
    secs = (r["stats"] or {}).get("seconds_by_stage", {})
    return {
        "wall_s": r["wall_s"],
        "group_s": round(secs.get("group", 0.0), 2),
        "rank_s": round(secs.get("rank", 0.0), 2),
        "recheck_s": round(secs.get("recheck", 0.0), 2),
        "extract_s": round(secs.get("extract", 0.0), 2),
        "decoded": (r["stats"] or {}).get("images_decoded"),
        "peak_driver_rss_mb": r["peak_driver_rss_mb"],
        "groups": r["groups"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--add", type=int, default=20)
    ap.add_argument("--data", type=Path, default=Path("/tmp/lookalike-scale"))
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--design", choices=["mosaic", "crops"], default="mosaic")
    ap.add_argument("--from-catalog", type=Path, help="a scanned catalog of the set to copy")
    ap.add_argument("--work", type=Path, help="the run's folder (default: the set's run-change)")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args(argv)
    root = scale.set_root(args.data, args.count, args.design)
    scale.make_set(root, args.count, workers=args.workers, design=args.design)
    work = args.work or root / "run-change"
    if work.exists():
        shutil.rmtree(work)
    (work / "added").mkdir(parents=True)
    (work / "full").mkdir()
    extra = [str(work / "added")]  # a root from the first scan on: the roots must not change
    if args.from_catalog:
        _start_from(args.from_catalog, work)
    first = scale.scan(root, work / "catalog.db", work / "first.json", args.workers, extra)
    _add_files(root, work / "added", args.add, seed=args.count)
    _copy_db(work / "catalog.db", work / "full")
    parts = _rescan(root, work / "catalog.db", work / "parts.json", args.workers, extra, False)
    full = _rescan(root, work / "full" / "catalog.db", work / "f.json", args.workers, extra, True)
    # the same groups, the thumbnails' cache folder aside (each catalog copy has its own)
    mine, other = str(work / "cache"), str(work / "full" / "cache")
    got = json.loads((work / "parts.json").read_text())["groups"]
    same = got == json.loads((work / "f.json").read_text().replace(other, mine))["groups"]
    result = {
        "script": "benchmarks/scale_change.py", "argv": sys.argv[1:], "commit": scale._commit(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.node()}, {os.cpu_count()} cores, "
        f"{round(psutil.virtual_memory().total / 2**30)} GiB",
        "from_catalog": str(args.from_catalog) if args.from_catalog else None,
        "first_scan_wall_s": first["wall_s"], "first_groups": len(first["groups"]),
        "added": args.add, "workers": args.workers,
        "by_parts": {k: v for k, v in parts.items() if k != "groups"},
        "full_regroup": {k: v for k, v in full.items() if k != "groups"},
        "groups": len(parts["groups"]), "same_groups": same,
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }  # fmt: skip
    print(json.dumps(result, indent=2))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
