"""A rescan that adds many photos (thousands to tens of thousands) to a scanned collection:
the group stage by parts (engine/group_parts.py) against a full regroup, per number added.

Why: importing a month of photos adds 10 000-50 000 files to a library; a rescan's group
stage should cost what the change costs, not the library. ``scale_change.py`` adds a few
files; this one adds ``--adds`` of them (e.g. 2 000, 10 000, 20 000, 40 000) — half q60
re-saves of photos of the set (they join stored groups), half new mosaics — and times the
group stage alone, with each given code (``--code NAME=SRC``: a ``src`` folder, put first on
``PYTHONPATH``), rounds alternating the codes (A/B/A/B on a shared box).

The new files are decoded once. ``start.db`` is a copy of ``--from-catalog`` (a catalog that
scanned the set; its thumbnails hard-linked); each code rescans it with the added files'
folder as an (empty) root, once per code (``base-NAME.db``): a full regroup whose record
the later rescans start from.
``all.db`` then scans every added file. For each count and code, ``kK-NAME.db`` is ``all.db``
with only that many added files present (the other subfolders moved aside) and
``base-NAME.db``'s grouping put back (its groups, members, re-check verdicts and records;
one base per code, as the record holds the engine's source): a rescan of it decodes nothing
and regroups exactly what a rescan after adding those files would. Each run rescans a fresh copy
of it, by parts (the default) or as a full regroup (``LOOKALIKE_REUSE_GROUPS=0``), in a child
process under ``group_stage_parts.py`` (the group stage's wall and driver CPU; the pieces'
thread CPU), and the outputs' groups are compared.

    python benchmarks/scale_many_added.py --set /tmp/lookalike-scale/m100000 \\
        --from-catalog /tmp/lookalike-scale/m100000/run/catalog.db --work /tmp/me-many \\
        --adds 2000,10000,20000,40000 --code before=/work/main/src --code after=src -o out.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import scale
from scale_change import _add_files  # half q60 re-saves of set photos, half new mosaics

HERE = Path(__file__).resolve().parent
GROUPING = ("groups", "group_files", "pair_checks")  # what a grouping writes, with meta rows


def _scan(args: argparse.Namespace, src: Path, db: Path, out: Path, full: bool) -> dict:
    """One rescan in a child process: its CPU (rusage), wall, stats and the group stage's."""
    pieces = out.with_suffix(".pieces.json")
    env = dict(os.environ, XDG_CACHE_HOME=str(args.work / "cache"), PYTHONPATH=str(src),
               GROUP_PIECES_JSON=str(pieces), LOOKALIKE_REUSE_GROUPS="0" if full else "1")  # fmt: skip
    cmd = [sys.executable, str(HERE / "group_stage_parts.py"), "scan", "--no-ui",
           str(args.set / "photos"), str(args.set / "copies"), str(args.work / "added"),
           "--db", str(db), "--workers", str(args.workers), "-o", str(out), "--format", "json",
           "--progress", "none"]  # fmt: skip
    before = os.times()
    t = time.perf_counter()
    got = subprocess.run(cmd, env=env, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t
    after = os.times()
    if got.returncode not in (0, 1):
        raise RuntimeError(f"scan failed ({got.returncode}): {got.stderr[-2000:]}")
    doc = json.loads(out.read_text())
    stats = doc.get("stats") or {}
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "decoded": stats.get("images_decoded"), "groups": len(doc.get("groups", [])),
            "stage_s": stats.get("seconds_by_stage"),
            "pieces": json.loads(pieces.read_text()) if pieces.exists() else {}}  # fmt: skip


def _put_grouping(db: Path, base: Path) -> None:
    """``base``'s grouping in ``db``: its groups, members, re-check verdicts and records."""
    con = sqlite3.connect(db)
    con.execute("ATTACH ? AS b", (str(base),))
    with con:
        for t in GROUPING:
            con.execute(f"DELETE FROM {t}")
            con.execute(f"INSERT INTO {t} SELECT * FROM b.{t}")
        con.execute("DELETE FROM meta WHERE key LIKE 'groups_%'")
        con.execute("INSERT INTO meta SELECT * FROM b.meta WHERE key LIKE 'groups_%'")
    con.close()


def _fresh(db: Path, to: Path) -> None:
    """A copy of a catalog no scan has open, its WAL folded in."""
    with sqlite3.connect(db) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(db, to)


def _prepare(args: argparse.Namespace, codes: list[tuple[str, Path]]) -> list[int]:
    """start.db, each code's base-NAME.db, the added files, all.db (each made once); the
    counts' steps."""
    w = args.work
    steps = [b - a for a, b in zip([0, *args.adds], args.adds, strict=False)]
    (w / "added").mkdir(parents=True, exist_ok=True)
    (w / "aside").mkdir(exist_ok=True)
    if not (w / "start.db").exists():
        _fresh(args.from_catalog, w / "start.db")
        if (cache := args.from_catalog.parent / "cache").is_dir() and not (w / "cache").exists():
            shutil.copytree(cache, w / "cache", copy_function=os.link)
    _present(w, 0)  # nothing added is present for the base scans
    for name, src in codes:  # the record holds the engine's source: one base per code
        if not (base := w / f"base-{name}.db").exists():
            _fresh(w / "start.db", w / "base.tmp")
            print("base:", _scan(args, src, w / "base.tmp", w / "base.json", False), flush=True)
            _fresh(w / "base.tmp", base)
    for n, k in enumerate(steps):
        if not (added := w / "aside" / f"a{n}").exists():
            added.mkdir(parents=True)
            _add_files(args.set, added, k, seed=1000 + n)
    if not (w / "all.db").exists():
        _present(w, len(steps))
        _fresh(w / f"base-{codes[0][0]}.db", w / "all.tmp")
        print("all:", _scan(args, codes[0][1], w / "all.tmp", w / "all.json", False), flush=True)
        _fresh(w / "all.tmp", w / "all.db")
    return steps


def _present(w: Path, n: int) -> None:
    """Subfolders a0 … a(n-1) in added/, the others aside."""
    for d in sorted((w / "added").iterdir()) + sorted((w / "aside").iterdir()):
        want = w / ("added" if int(d.name[1:]) < n else "aside") / d.name
        if d != want:
            d.rename(want)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", type=Path, required=True, help="scale.py's set (photos, copies)")
    ap.add_argument("--from-catalog", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--adds", type=lambda s: [int(x) for x in s.split(",")], required=True)
    ap.add_argument("--code", action="append", required=True, help="NAME=SRC (repeatable)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--modes", default="parts,full")
    ap.add_argument("--full-code", help="the one code whose full regroups run (default: all)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args(argv)
    codes = [(c.split("=", 1)[0], Path(c.split("=", 1)[1]).resolve()) for c in args.code]
    steps = _prepare(args, codes)
    runs = []
    for n, k in enumerate(args.adds):
        _present(args.work, n + 1)
        for name, _ in codes:
            if not (kdb := args.work / f"k{k}-{name}.db").exists():
                _fresh(args.work / "all.db", kdb)
                _put_grouping(kdb, args.work / f"base-{name}.db")
        outs: dict[str, Path] = {}
        for r in range(args.rounds):
            for name, src in codes if r % 2 == 0 else codes[::-1]:
                for mode in args.modes.split(","):
                    if mode == "full" and args.full_code not in (None, name):
                        continue
                    _fresh(args.work / f"k{k}-{name}.db", args.work / "run.db")
                    out = args.work / f"k{k}-{name}-{mode}-{r}.json"
                    got = _scan(args, src, args.work / "run.db", out, mode == "full")
                    got.update(added=k, code=name, mode=mode, round=r,
                               load=[round(x, 2) for x in os.getloadavg()],
                               utc=time.strftime("%H:%M:%S", time.gmtime()))  # fmt: skip
                    outs[f"{name}-{mode}"] = out
                    print(json.dumps(got), flush=True)
                    runs.append(got)
        if not outs:
            continue
        groups = {key: json.loads(p.read_text())["groups"] for key, p in outs.items()}
        first = next(iter(groups.values()))
        same = {key: g == first for key, g in groups.items()}
        print(json.dumps({"added": k, "same_groups_as_" + next(iter(groups)): same}), flush=True)
        runs.append({"added": k, "same_groups": same})
    _present(args.work, len(steps))
    result = {"script": "benchmarks/scale_many_added.py", "argv": sys.argv[1:],
              "commit": scale._commit(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "runs": runs}  # fmt: skip
    if args.output:
        args.output.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
