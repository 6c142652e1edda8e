"""What storing a scan's review costs the scan's driver on a rescan (issue 13).

Why: ``Catalog.finish_scan`` merges the scan's groups with the stored groups the scan did not
look at (a subfolder scan leaves the rest of the review as it was). It used to decode every
stored group (``load_groups``) to find those, on every rescan, even a full one that looked at
every file. This stores N groups (copies of the groups a real scan finds on real photos, with
file rows for every member), then, in a fresh process, times ``finish_scan`` and measures its
peak (RSS high-water mark reset just before the call, and tracemalloc's peak) for:

- ``full``: a rescan that looked at every file and found the same N groups;
- ``half``: a rescan of half the folders: N/2 groups found, the other N/2 kept as they were;
- ``full-spool``, ``half-spool``: the same, the scan's groups handed over as a scan does now
  (a ``ScanGroups`` over its on-disk spool, engine/scan_groups.py) instead of a list of
  ``Group`` objects: compare ``rss_before_mb`` (what the driver holds going in) and the peak.

    python benchmarks/finish_memory.py --groups 100000 -o benchmarks/out/finish_memory.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from review_memory import _rss, _templates  # noqa: E402

WAYS = ("full", "half", "full-spool", "half-spool")


def _groups(templates: list, n: int, ids: dict[str, int] | None) -> list:
    out = []
    for k in range(n):
        t = templates[k % len(templates)]
        d = f"/photos/{k // 1000:04d}/{k:07d}"
        members = []
        for m in t.members:
            path = f"{d}-{os.path.basename(m.path)}"
            fid = ids[path] if ids is not None else None
            members.append(replace(m, path=path, file_id=fid, mtime_ns=1, size=m.size))
        keep = f"{d}-{os.path.basename(t.keep)}"
        out.append(replace(t, id=k + 1, keep=keep, members=tuple(members)))
    return out


def make_catalog(catalog: Path, n: int, tmp: Path) -> None:
    """N stored groups whose members are file rows of the catalog (as a scan leaves them)."""
    from lookalike.engine.catalog import Catalog

    templates = _templates(tmp)
    (tmp / "templates.json").write_text(json.dumps([g.to_json() for g in templates]))
    with Catalog(catalog) as cat:
        scan = cat.start_scan(["/photos"])
        cat.begin()
        ids = {}
        for g in _groups(templates, n, None):
            for m in g.members:
                ids[m.path] = cat.add_file(m.path, 1, len(ids) + 1, m.size, 1, scan)
        cat.commit()
        cat.finish_scan(scan, {}, _groups(templates, n, ids), seen=None)


def run_way(catalog: Path, tmp: Path, n: int, way: str) -> dict:
    from lookalike.engine.catalog import Catalog
    from lookalike.engine.catalog_schema import group_from_row, group_to_row

    templates = [
        group_from_row(_as_row(d)) for d in json.loads((tmp / "templates.json").read_text())
    ]
    with Catalog(catalog) as cat:
        ids = {os.fsdecode(p): i for i, p in cat.db.execute("SELECT id, path FROM files")}
        new = _groups(templates, n, ids)
        seen = set(ids.values())
        if way.startswith("half"):  # the first half of the folders rescanned; the rest kept
            new = new[: n // 2]
            seen = {m.file_id for g in new for m in g.members}
        # as a scan builds them: every group its own objects (the copies of the templates
        # above share their evidence and flags, which no scan's groups do)
        new = [group_from_row(json.loads(json.dumps(group_to_row(g)))) for g in new]
        if way.endswith("-spool"):  # as a scan hands them on now: on disk (scan_groups.py)
            from lookalike.engine.scan_groups import GroupSpool

            spool = GroupSpool(tmp)
            for g in new:
                spool.add(g)
            new = spool.done()  # the list is gone: only the spool's connection is held
        scan = cat.start_scan(["/photos"])
        rss0, _ = _rss()
        Path("/proc/self/clear_refs").write_text("5")  # reset the RSS high-water mark
        t0 = time.perf_counter()
        cat.finish_scan(scan, {}, new, seen=seen)
        seconds = time.perf_counter() - t0
        _, hwm = _rss()
        tracemalloc.start()
        cat.finish_scan(cat.start_scan(["/photos"]), {}, new, seen=seen)  # the same, traced
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        stored = cat.db.execute("SELECT COUNT(*) FROM groups").fetchone()[0]
    return {"way": way, "groups_found": len(new), "groups_stored": stored,
            "seconds": round(seconds, 2), "rss_before_mb": rss0,
            "peak_rss_over_before_mb": round(hwm - rss0, 1),
            "tracemalloc_peak_mb": round(peak, 1)}  # fmt: skip


def _as_row(d: dict) -> dict:
    """A --format json group back as a stored row (paths as hex of their bytes)."""
    row = json.loads(json.dumps(d))
    for f in row["files"]:
        f["path"] = os.fsencode(f["path"]).hex()
    row["keep"] = os.fsencode(row["keep"]).hex()
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--groups", type=int, default=100_000)
    ap.add_argument("--way", choices=WAYS)
    ap.add_argument("--catalog", type=Path)
    ap.add_argument("--tmp", type=Path)
    ap.add_argument("-o", "--out", type=Path)
    args = ap.parse_args()
    if args.way:  # the child: one way, in a fresh process
        print(json.dumps(run_way(args.catalog, args.tmp, args.groups, args.way)))
        return
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        t0 = time.perf_counter()
        make_catalog(tmp / "cat.sqlite", args.groups, tmp)
        built = time.perf_counter() - t0
        rows = []
        for way in WAYS:
            for_way = tmp / f"{way}.sqlite"
            for_way.write_bytes((tmp / "cat.sqlite").read_bytes())
            cmd = [sys.executable, __file__, "--groups", str(args.groups), "--way", way,
                   "--catalog", str(for_way), "--tmp", str(tmp)]  # fmt: skip
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    result = {"groups": args.groups, "catalog_built_s": round(built, 1), "ways": rows,
              "machine": platform.platform(), "load": os.getloadavg(),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}  # fmt: skip
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
