"""What a plan over every group, and the server's thumbnail gate, cost at 100k groups (issue 13).

Why: ``scan --action/--plan-out`` listed every group of the scan before planning, a review plan
over HTTP listed every visible group, and the thumbnail gate decoded every visible group to
read one field a file. This measures each, in a fresh process, on real files: the groups a
real scan finds on small real photos (skimage.data: a byte copy, a resized copy and a PNG
re-encode per photo, with their real evidence, flags and reasons), copied to N groups whose
members are hard links to the template files (real files the plan builder lstat()s, hashes
and checks; no disk space per copy), each member with its own thumbnail key.

- ``scan-plan``: the scan's groups in a ``GroupSpool`` (as the rank stage leaves them), then
  what ``scan --action trash --plan-out`` does with them (``run_action_for_groups``): the
  code under test decides — a list of the groups before issue 13's change, the spool through
  ``plan_build.Rewalk`` after it (``commands/scan.py``);
- ``review-plan``: ``POST /plans {"review": true, "action": "trash"}`` (serve/plans.py) over
  the same groups stored as the catalog's review, and its answer encoded as the route sends
  it (one document before, streamed from the spooled items after);
- ``gate``: the server's ``ThumbGate`` rebuild over that review;
- ``apply``: what ``lookalike apply PLAN`` does before it acts, on the plan file ``scan-plan``
  wrote (run that way first): the file read (``load_plan``), then the whole plan checked
  against the disk (``check_plan(fresh=True)``: every file and keeper ``lstat``-ed, resolved
  and hashed). Nothing is acted on, so the library stays as it is for the next run;
- ``apply-catalog``: the same, with the plan naming a catalog (``scan --plan-out`` with a
  catalog, as ``lookalike apply`` then checks it): a copy of the library's catalog whose files
  table holds every planned file and keeper with the values the plan records (made once,
  outside the measure), so every item passes the catalog's checks too.

Run it once per checkout (``PYTHONPATH`` picks the code) on the same library:

    python benchmarks/plan_memory.py --groups 100000 --lib /tmp/planlib -o out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

WAYS = ("scan-plan", "review-plan", "gate", "apply", "apply-catalog")


def _templates(work: Path) -> list:
    """The groups a real scan finds on a few small real photos (written once: every run
    links and records the very same files)."""
    from PIL import Image
    from skimage import data

    from lookalike.engine.api import Engine
    from lookalike.engine.events import ScanFinished
    from lookalike.engine.options import ScanOptions

    lib = work / "templates"
    lib.mkdir(exist_ok=True)
    for name in ("chelsea", "coffee", "astronaut"):
        if (lib / f"{name}.png").exists():
            continue
        img = Image.fromarray(getattr(data, name)())
        img = img.resize((img.width // 4, img.height // 4))
        img.save(lib / f"{name}.jpg", quality=92)
        img.save(lib / f"{name}-copy.jpg", quality=92)
        img.resize((img.width // 2, img.height // 2)).save(lib / f"{name}-small.jpg", quality=80)
        img.save(lib / f"{name}.png")
    engine = Engine(work / "templates.sqlite", work / "thumbs")
    for ev in engine.scan_sync(ScanOptions(roots=(lib,), workers=1, thumbnails=False)):
        if isinstance(ev, ScanFinished):
            return list(ev.groups)
    raise RuntimeError("the template scan did not finish")


def make_groups(lib: Path, groups: int, work: Path):
    """Yield N groups of hard-linked real files under ``lib`` (made once), one at a time."""
    templates = _templates(work)
    for n in range(groups):
        t = templates[n % len(templates)]
        d = lib / f"{n // 1000:04d}"
        d.mkdir(parents=True, exist_ok=True)
        members = []
        for j, m in enumerate(t.members):
            path = str(d / f"{n:07d}-{os.path.basename(m.path)}")
            if not os.path.exists(path):
                os.link(m.path, path)
            key = f"{n * 16 + j:016x}"
            thumb = f"/thumbs/{key[:2]}/{key}.jpg"  # its own key, as a real scan gives
            members.append(replace(m, path=path, file_id=n * 16 + j, thumb=thumb))
        keep = str(d / f"{n:07d}-{os.path.basename(t.keep)}")
        yield replace(t, id=n + 1, keep=keep, members=tuple(members))


def build(lib: Path, catalog: Path, spool_dir: Path, groups: int) -> dict:
    """The library, and the groups stored as the catalog's review (read by the serve ways)."""
    from lookalike.engine.catalog import Catalog

    t = time.monotonic()
    out = list(make_groups(lib, groups, spool_dir))
    with Catalog(catalog) as cat:
        cat.finish_scan(cat.start_scan([str(lib)]), {}, out, seen=None)
    return {"files": sum(len(g.members) for g in out), "seconds_build": round(time.monotonic() - t)}


def _rss() -> tuple[float, float]:
    got = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key = line.split(":")[0]
        if key in ("VmRSS", "VmHWM"):
            got[key] = int(line.split()[1]) / 1024
    return round(got["VmRSS"], 1), round(got["VmHWM"], 1)


def _scan_plan(lib: Path, catalog: Path, groups: int, out: Path) -> dict:
    """The scan's groups spooled one at a time, then what scan.py hands the planner."""
    import io

    from lookalike.commands.act import run_action_for_groups
    from lookalike.engine.actions import plan_build
    from lookalike.engine.scan_groups import GroupSpool

    spool = GroupSpool(out.parent)
    for g in make_groups(lib, groups, out.parent):
        spool.add(g)
    spooled = spool.done()
    before, _ = _rss()
    t = time.monotonic()
    if hasattr(plan_build, "two_walks"):  # commands/scan.py since session 8: read once
        arg = plan_build.Rewalk(lambda: (g for g in spooled if len(g.members) > 1), once=True)
    elif hasattr(plan_build, "Rewalk"):  # commands/scan.py after issue 13's change
        arg = plan_build.Rewalk(lambda: (g for g in spooled if len(g.members) > 1))
    else:  # before it
        arg = [g for g in spooled if len(g.members) > 1]
    err = io.StringIO()
    code = run_action_for_groups(
        arg, "trash", dry_run=False, yes=False, permanently=False, plan_out=out, fmt="text",
        stdout=io.StringIO(), stderr=err, roots=[str(lib)], catalog=None,
    )  # fmt: skip
    assert code == 0, err.getvalue()[-2000:]
    seconds = time.monotonic() - t
    _, peak = _rss()  # before the check below: loading the plan file would be the peak
    return {"rss_before_mb": before, "seconds": seconds, "items": _count_items(out), "peak": peak}


def _count_items(plan_file: Path) -> int:
    """The plan file's items, counted a block at a time (``json.loads`` of a 300,000-item
    plan takes ≈ 400 MB: it set the peak this script reported until session 8)."""
    mark, n, tail = b'"seq": ', 0, b""
    with open(plan_file, "rb") as fh:
        while block := fh.read(1 << 20):
            n += (tail + block).count(mark)
            tail = (tail + block)[-(len(mark) - 1) :]  # too short to hold a whole mark
    return n


def _apply(out: Path) -> dict:
    """``lookalike apply``'s read and check of the plan ``scan-plan`` wrote (nothing acted)."""
    from lookalike.engine.actions.plan import load_plan
    from lookalike.engine.actions.plancheck import check_plan

    if not out.exists():
        sys.exit(f"no plan at {out}: run the scan-plan way first (--ways scan-plan,apply)")

    def signed_plan():
        plan = load_plan(out)
        assert plan.signed, "the plan is not signed by this install"
        return plan

    return _timed_check(signed_plan, check_plan)


def _timed_check(load, check_plan) -> dict:
    """``load()`` then ``check_plan(plan, fresh=True)``: time and RSS of the two."""
    before, _ = _rss()
    t = time.monotonic()
    plan = load()
    loaded = time.monotonic() - t
    _, load_peak = _rss()
    check_plan(plan, fresh=True)
    return {
        "rss_before_mb": before,
        "seconds": time.monotonic() - t,
        "seconds_load": round(loaded, 2),
        "load_peak_rss_mb": load_peak,
        "items": len(plan.items),
    }


def _scan_catalog(plan, catalog: Path, out: Path) -> Path:
    """The library's catalog with a files row per planned file and keeper (the values the
    plan records), as the scan that made the plan would leave it; made once."""
    import shutil

    from lookalike.engine.catalog import Catalog

    made = out.parent / "apply.catalog.db"
    if made.exists():
        return made
    shutil.copyfile(catalog, out.parent / "apply.tmp.db")
    with Catalog(out.parent / "apply.tmp.db") as cat:
        rows = []
        sql = "INSERT OR IGNORE INTO files (path, dev, inode, size, mtime_ns, fullhash) "
        for i in plan.items:
            rows.append((os.fsencode(i.source), 0, 0, i.size, i.mtime_ns, bytes.fromhex(i.hash)))
            rows.append((os.fsencode(i.keeper), i.keeper_dev, i.keeper_ino, i.keeper_size,
                         i.keeper_mtime_ns, bytes.fromhex(i.keeper_hash)))  # fmt: skip
            if len(rows) > 10_000:
                cat.db.executemany(sql + "VALUES (?,?,?,?,?,?)", rows)
                rows.clear()
        cat.db.executemany(sql + "VALUES (?,?,?,?,?,?)", rows)
        cat.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    os.replace(out.parent / "apply.tmp.db", made)
    return made


def _apply_catalog(catalog: Path, out: Path) -> dict:
    """``apply``'s read and check of the plan when it names its catalog (nothing acted)."""
    from lookalike.engine.actions.plan import load_plan
    from lookalike.engine.actions.plancheck import check_plan
    from lookalike.engine.catalog import Catalog

    if not out.exists():
        sys.exit(f"no plan at {out}: run the scan-plan way first (--ways scan-plan,apply)")
    made = out.parent / "apply.catalog.db"
    if not made.exists():  # made here, then measured in a fresh process: its peak not counted
        _scan_catalog(load_plan(out), catalog, out)
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, *sys.argv])
    with Catalog(made) as cat:
        cid = cat.catalog_id()
    return _timed_check(
        lambda: replace(load_plan(out), catalog=str(made), catalog_id=cid), check_plan
    )


def run_way(way: str, lib: Path, catalog: Path, groups: int, out: Path) -> dict:
    from lookalike.engine.api import Engine
    from lookalike.serve.visible import ReviewView, ThumbGate

    if way == "scan-plan":
        got = _scan_plan(lib, catalog, groups, out)
    elif way == "apply":
        got = _apply(out)
    elif way == "apply-catalog":
        got = _apply_catalog(catalog, out)
    else:
        engine = Engine(catalog)
        roots = (str(lib.resolve()),)
        jobs = SimpleNamespace(ended=0, jobs={}, engine=engine, roots=roots, state_dir=out.parent)
        before, _ = _rss()
        t = time.monotonic()
        if way == "review-plan":
            from lookalike.serve import plans

            body = {"review": True, "action": "trash"}
            if hasattr(plans, "answer_chunks"):  # the answer streamed, as POST /plans sends it
                plan = plans.new_plan(jobs, body, [])  # type: ignore[arg-type]
                sent = sum(len(c) for c in plans.answer_chunks(plan))
                got = {"items": len(plan.items), "answer_bytes": sent}
            else:  # before: one JSON document of every item
                doc = plans.make_plan(jobs, body, [])  # type: ignore[arg-type]
                sent = len(json.dumps(doc, ensure_ascii=True).encode())
                got = {"items": len(doc["items"]), "answer_bytes": sent}
        else:
            gate = ThumbGate(jobs, ReviewView(engine, roots))  # type: ignore[arg-type]
            gate._build()
            got = {"keys": len(gate.keys)}
        got.update(rss_before_mb=before, seconds=time.monotonic() - t)
    after, peak = _rss()
    peak = got.pop("peak", peak)
    got.update(seconds=round(got["seconds"], 2), peak_rss_mb=peak, rss_after_mb=after)
    got["peak_over_start_mb"] = round(peak - got["rss_before_mb"], 1)
    return got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=100_000)
    ap.add_argument("--lib", type=Path, required=True, help="library folder (made once)")
    ap.add_argument("-o", "--out", type=Path)
    ap.add_argument("--ways", default=",".join(WAYS))
    ap.add_argument("--run", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    catalog = a.lib.with_suffix(".catalog.db")
    work = a.lib.with_suffix(".work")
    work.mkdir(parents=True, exist_ok=True)
    if a.run:  # one way, in this fresh process
        print(json.dumps(run_way(a.run, a.lib, catalog, a.groups, work / "plan.json")))
        return
    made = {}
    if not catalog.exists():
        made = build(a.lib, catalog, work, a.groups)
    rows = {}
    for way in a.ways.split(","):
        cmd = [sys.executable, __file__, "--groups", str(a.groups), "--lib", str(a.lib),
               "--run", way]  # fmt: skip
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode:
            sys.exit(f"{way} failed:\n{r.stderr[-3000:]}")
        rows[way] = json.loads(r.stdout.strip().splitlines()[-1])
        print(way, rows[way], flush=True)
    import lookalike

    doc = {
        "groups": a.groups,
        "code": os.path.dirname(lookalike.__file__),
        "machine": f"{platform.node()} {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        **made,
        "ways": rows,
    }
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
