"""What the review costs to open when it holds every group vs one page of them (issue 13).

Why: the app's review (ui/state.py) loads ``Engine.last_groups()`` — every stored group as a
Python object — before it shows the first one. docs/scale.md weighs paging groups from the
catalog instead; this measures both sides on the same stored review. Groups are copies of
the groups a real scan finds on real photos (skimage.data: a byte copy, a resized copy and a
PNG re-encode per photo, with their real evidence, flags and reasons), renamed to N distinct
groups and stored with ``Catalog.finish_scan``. Each way runs in a fresh process:

- ``all``: ``Engine.last_groups()`` + ``ReviewState(groups)`` + ``load_records`` (what the
  app did before issue 13), then the same select by criteria;
- ``page``: the built port (issue 13): ``GroupPages`` over ``Engine.group_columns`` — the
  whole view, sorted by bytes to free, as an int32 array of group ords read from the stored
  columns — and its first page of 200 groups decoded by ``Engine.group_page``;
- ``app``: what the app does now (issue 13): ``open_stored`` (the saved view sorted by bytes,
  its first page, the groups the stored decisions' files are in) + ``ReviewState.set_stored``
  + ``load_records``, then select by criteria ("keep the highest resolution") over every
  group, a page at a time (``seconds_select``; ``peak`` includes it);
- ``app_wait``: the app's open before stored decisions were matched in a worker (issue 13,
  ui/app_decisions.py): ``open_stored`` reads the decided groups' member facts and
  ``load_records`` matches them before the first page is shown; ``app`` shows the first page
  first (``seconds_first_groups``) and then reads and matches them as the app's worker does
  (``seconds_decisions_matched``, from the open; since session 8 the common case in SQL,
  ui/stored_match.py, with the cyclic collector paused as the worker pauses it; since its
  2nd round the rows the catalog pairs in SQL are left there undecoded, ui/stored_records.py);
- ``serve``: the app's open over a real ``lookalike serve`` on the same catalog (API 1.1,
  serve/decisions.py): ``open_stored`` on a ``RemotePort``, the first page, then the stored
  decisions paired in SQL on the server and streamed (``RemotePort.paired_decision_rows``)
  into ``match_left``, as the app's worker does; ``serve_old``: the same against an older
  server (no paired route): every decision fetched and matched in the app. ``server_*``:
  the server process's RSS after the way and its peak. Their files are under the run's
  temporary folder (the server's root) instead of ``/photos``; thumbnails are asked as the
  app asks them (the server has none of the copied groups': each answers 404 once);
- ``upgrade``: the first open of the same review as a schema-1 catalog wrote it (the group
  columns and ``group_files`` filled from the JSON rows, once);
- ``live``: a first scan's groups handed to the app's review one by one as ``GroupFound``
  brings them (``ReviewState.add_group``; read here from the stored review 500 at a time, as
  the engine's spool yields them), then what the review holds.

The ``app`` way also times select by "oldest" (``seconds_select_oldest``) and counts the
groups it decoded (``oldest_groups_decoded``: pages before the capture time column).

    python benchmarks/review_memory.py --groups 100000 -o benchmarks/out/review_memory.json
    python benchmarks/review_memory.py --groups 100000 --ways app,live   # a subset
    python benchmarks/review_memory.py --groups 100000 --ways app_wait,app --decided-every 1
    python benchmarks/review_memory.py --groups 20000 --ways app,serve_old,serve --decided-every 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path


def _templates(tmp: Path) -> list:
    """The groups a real scan finds on a few real photos."""
    from PIL import Image
    from skimage import data

    from lookalike.engine.api import Engine
    from lookalike.engine.events import ScanFinished
    from lookalike.engine.options import ScanOptions

    lib = tmp / "lib"
    lib.mkdir()
    for name in ("chelsea", "coffee", "astronaut"):
        img = Image.fromarray(getattr(data, name)())
        img.save(lib / f"{name}.jpg", quality=92)
        img.save(lib / f"{name}-copy.jpg", quality=92)
        img.resize((img.width // 2, img.height // 2)).save(lib / f"{name}-small.jpg", quality=80)
        img.save(lib / f"{name}.png")
    engine = Engine(tmp / "scan.sqlite", tmp / "thumbs")
    for ev in engine.scan_sync(ScanOptions(roots=(lib,), workers=1)):
        if isinstance(ev, ScanFinished):
            return list(ev.groups)
    raise RuntimeError("the template scan did not finish")


def make_review(catalog: Path, groups: int, tmp: Path, prefix: str = "/photos") -> int:
    from lookalike.engine.catalog import Catalog

    templates = _templates(tmp)
    out = []
    for n in range(groups):
        t = templates[n % len(templates)]
        d = f"{prefix}/{n // 1000:04d}/{n:07d}"
        members = tuple(  # distinct files: a decision's file keys name one group
            replace(m, path=f"{d}-{os.path.basename(m.path)}", file_id=n * 16 + j)
            for j, m in enumerate(t.members)
        )
        out.append(replace(t, id=n + 1, keep=f"{d}-{os.path.basename(t.keep)}", members=members))
    with Catalog(catalog) as cat:
        cat.finish_scan(cat.start_scan([prefix]), {}, out, seen=None)
    return sum(len(g.members) for g in out)


def make_decisions(catalog: Path, every: int = 100) -> int:
    """A stored decision ("accepted") on one group in ``every``, keyed by its files as the
    review stores them (ui/state_store.py), so opening the review matches records too."""
    from lookalike.engine.api import Engine
    from lookalike.ui.state_store import Record, group_key

    con = sqlite3.connect(catalog)
    rows = con.execute(
        "SELECT f.ord, f.file_id, f.size, f.mtime_ns, f.path = g.keep FROM group_files f "
        "JOIN groups g ON g.ord = f.ord WHERE f.ord % ? = 0 ORDER BY f.ord",
        (every,),
    ).fetchall()
    con.close()
    members: dict[int, list[tuple[str, bool]]] = {}
    for o, fid, size, mtime, is_keep in rows:
        members.setdefault(o, []).append((f"{fid}:{size}:{mtime}", bool(is_keep)))
    records = []
    for keys in members.values():
        all_keys = frozenset(k for k, _ in keys)
        keep = frozenset(k for k, is_keep in keys if is_keep)
        records.append(Record(group_key(all_keys), "accepted", all_keys, keep).to_json())
    Engine(catalog).save_decisions(records, [])
    return len(records)


def _rss(pid: int | str = "self") -> tuple[float, float]:
    got = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(":")[0]
        if key in ("VmRSS", "VmHWM"):
            got[key] = int(line.split()[1]) / 1024
    return round(got["VmRSS"], 1), round(got["VmHWM"], 1)


def as_schema_1(catalog: Path) -> None:
    """Rewrite the catalog as a schema-1 lookalike left it (no group columns, no
    group_files), so the ``upgrade`` way times what its first open costs."""
    con = sqlite3.connect(catalog)
    con.executescript(
        "DROP TABLE group_files;"
        "CREATE TABLE g1 (scan_id INTEGER NOT NULL, ord INTEGER NOT NULL, data TEXT NOT NULL,"
        " PRIMARY KEY (scan_id, ord));"
        "INSERT INTO g1 SELECT scan_id, ord, data FROM groups;"
        "DROP TABLE groups; ALTER TABLE g1 RENAME TO groups;"
        "UPDATE meta SET value='1' WHERE key='schema';"
    )
    con.close()


def run_serve_way(url: str, way: str) -> dict:
    """The app's open over ``lookalike serve`` at ``url`` (``serve``; ``serve_old``: as
    against a server without the paired route), timed as the ``app`` way."""
    from lookalike.ui.app_decisions import collector_paused, match_left, match_stored, read_rows
    from lookalike.ui.group_pages import open_stored
    from lookalike.ui.remote_port import RemotePort
    from lookalike.ui.state import ReviewState
    from lookalike.ui.state_store import parse_records

    before, _ = _rss()
    t = time.monotonic()
    port = RemotePort(url, cache=Path(tempfile.mkdtemp(prefix="review-memory-thumbs-")))
    # thumbnails asked as the app asks them: the server has none of these (each 404 once)
    if way == "serve_old":
        port.paired_decision_rows = None  # what read_rows finds on an older server's port
    state = ReviewState()
    state.set_stored(open_stored(port, (), {"sort": "bytes"}))
    state.sort = "bytes"
    state.rebuild_view()
    first = [state.by_id[gid] for gid in state.view[:200]]
    t_load = time.monotonic() - t
    with collector_paused():  # as the app's worker (ui/app_decisions.py read_and_match)
        got, rows = read_rows(port)
        if got is None:
            recs = parse_records(rows)
            state.set_matched(recs, match_stored(state.stored, recs))
        else:
            state.set_matched(*match_left(port, state.stored, got, rows))
    matched = time.monotonic() - t
    after, peak = _rss()
    return {
        "seconds_first_groups": round(t_load, 2),
        "seconds_decisions_matched": round(matched, 2),
        "decisions_matched": len(state.decisions),
        "paired_on_server": 0 if got is None else len(got),
        "rss_before_mb": before,
        "rss_after_mb": after,
        "peak_rss_mb": peak,
        "held_mb": round(after - before, 1),
        "groups_in_memory": len(first),
    }


def serve_ways(catalog: Path, root: Path, ways: list[str], tmp: Path) -> dict:
    """Each serve way in a fresh process against one ``lookalike serve`` on the catalog."""
    cmd = [sys.executable, "-m", "lookalike", "serve", "--root", str(root), "--port", "0",
           "--db", str(catalog), "--state-dir", str(tmp / "state"), "--workers", "1"]  # fmt: skip
    server = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        seen = ""
        while not (m := re.search(r"serving (http://127\.0\.0\.1:\d+)/", seen)):
            line = server.stderr.readline()
            if not line:
                raise RuntimeError(f"lookalike serve did not start: {seen}")
            seen += line
        out = {}
        for way in ways:
            run = [sys.executable, __file__, "--run", str(catalog), "--way", way, "--url", m[1]]
            got = subprocess.run(run, capture_output=True, text=True, check=True)
            out[way] = json.loads(got.stdout.strip().splitlines()[-1])
            rss, peak = _rss(server.pid)
            out[way].update(server_rss_mb=rss, server_peak_rss_mb=peak)
            print(way, out[way], file=sys.stderr)
        return out
    finally:
        server.terminate()
        server.wait(timeout=60)


def run_way(catalog: Path, way: str) -> dict:
    from lookalike.engine.api import Engine

    before, _ = _rss()
    extra: dict[str, float] = {}
    t = time.monotonic()
    if way == "upgrade":  # first open of a schema-1 catalog: columns filled from JSON rows
        from lookalike.engine.catalog import Catalog

        with Catalog(catalog):
            pass
        t_load, shown = time.monotonic() - t, 0
    elif way in ("all", "app", "app_wait"):
        from lookalike.ui import select
        from lookalike.ui.app_decisions import match_left, match_stored

        try:  # the worker pauses the cyclic collector since session 8
            from lookalike.ui.app_decisions import collector_paused
        except ImportError:  # an older src ("before" runs)
            from contextlib import nullcontext as collector_paused
        from lookalike.ui.engine_port import EngineAdapter
        from lookalike.ui.group_pages import open_stored, record_keys
        from lookalike.ui.state import ReviewState
        from lookalike.ui.state_store import parse_records

        port = EngineAdapter(Engine(catalog))
        records = [] if way == "app" else port.load_decisions()  # app: read by its worker
        if way == "all":
            state = ReviewState(port.last_groups())
            state.sort = "bytes"
        else:  # app_wait: decisions matched before the first page shows (the app until 2nd
            # round of session 7); app: the first page first, then matching (app_decisions.py)
            keys = record_keys(records) if way == "app_wait" else ()
            state = ReviewState()
            state.set_stored(open_stored(port, keys, {"sort": "bytes"}))
            state.sort = "bytes"
        if way != "app":
            state.load_records(records)
        state.rebuild_view()
        first = [state.by_id[gid] for gid in state.view[:200]]
        t_load = time.monotonic() - t
        shown = len(first)
        if way == "app":  # what the app's worker does after the first page is on screen
            with collector_paused():  # as the worker (ui/app_decisions.py read_and_match)
                got = port.pair_stored_decisions()  # paired in SQL, left in the catalog
                if got is None:  # a row only the rule reads: every row decoded
                    recs = parse_records(port.load_decisions())
                    state.set_matched(recs, match_stored(state.stored, recs))
                else:
                    rows = port.load_decisions(got[1])
                    state.set_matched(*match_left(port, state.stored, got[0], rows))
            extra["seconds_decisions_matched"] = round(time.monotonic() - t, 2)
        extra["decisions_matched"] = len(state.decisions)
        after_open, _ = _rss()
        extra["held_after_open_mb"] = round(after_open - before, 1)
        t_sel = time.monotonic()
        pick = select.select(state, "resolution")
        extra["seconds_select"] = round(time.monotonic() - t_sel, 2)
        extra["select_files"] = pick.files
        decoded, read_page = [0], port.group_page

        def counted(ords):  # the groups select decodes (pages), not the member columns
            decoded[0] += len(ords)
            return read_page(ords)

        port.group_page = counted
        t_sel = time.monotonic()
        pick = select.select(state, "oldest")
        extra["seconds_select_oldest"] = round(time.monotonic() - t_sel, 2)
        extra["oldest_files"] = pick.files
        extra["oldest_groups_decoded"] = decoded[0]
    elif way == "live":  # a first scan's GroupFound groups into the app's review
        from lookalike.ui.state import ReviewState

        engine, state = Engine(catalog), ReviewState()
        n = engine.group_count()
        for i in range(0, n, 500):
            for g in engine.group_page(range(i, min(i + 500, n))):
                state.add_group(g)
        t_load, shown = time.monotonic() - t, len(state.groups)
        extra["groups_found"] = n
        extra["counted_not_held"] = getattr(state, "live_more", 0)
    else:  # the built port: the view's ords from the stored columns, then one page
        from lookalike.engine.catalog_groups import GroupFilter
        from lookalike.ui.group_pages import PAGE as GROUPS_PER_PAGE
        from lookalike.ui.group_pages import GroupPages

        pages = GroupPages(Engine(catalog), GroupFilter(), "bytes")  # the whole-review sort
        extra["seconds_view"] = round(time.monotonic() - t, 2)  # open (quick_check) + columns
        page = pages[:GROUPS_PER_PAGE]
        t_load = time.monotonic() - t
        assert len(page) == min(GROUPS_PER_PAGE, len(pages)) and pages.loads == 1
        shown = len(page)
    after, peak = _rss()
    return {
        "seconds_first_groups": round(t_load, 2),
        "seconds_ready": round(time.monotonic() - t, 2),
        "rss_before_mb": before,
        "rss_after_mb": after,
        "peak_rss_mb": peak,
        "held_mb": round(after - before, 1),
        "groups_in_memory": shown,
        **extra,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=100_000)
    ap.add_argument("-o", "--out", type=Path)
    ap.add_argument("--ways", default="all,page,app,upgrade,live", help="comma-separated subset")
    ap.add_argument("--decided-every", type=int, default=100, help="a decision on 1 group in N")
    ap.add_argument("--run", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--way", default="all", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.run is not None:
        got = run_serve_way(a.url, a.way) if a.url else run_way(a.run, a.way)
        print(json.dumps(got))
        return
    with tempfile.TemporaryDirectory(prefix="review-memory-") as tmp:
        catalog = Path(tmp) / "catalog.sqlite"
        wanted = a.ways.split(",")
        served = [w for w in ("serve_old", "serve") if w in wanted]
        root = Path(os.path.realpath(tmp)) / "photos"  # the server's root (must exist)
        root.mkdir()
        files = make_review(catalog, a.groups, Path(tmp), str(root) if served else "/photos")
        ways = {}
        decisions = make_decisions(catalog, a.decided_every)
        order = [w for w in ("all", "page", "app_wait", "app", "live", "upgrade") if w in wanted]
        size = catalog.stat().st_size  # the stored review as a scan writes it
        for way in order:
            if served and way in ("live", "upgrade"):  # on the catalog as a scan wrote it
                ways.update(serve_ways(catalog, root, served, Path(tmp)))
                served = []
            if way == "upgrade":
                size = catalog.stat().st_size  # the stored review as a scan writes it
                as_schema_1(catalog)
            cmd = [sys.executable, __file__, "--run", str(catalog), "--way", way]
            got = subprocess.run(cmd, capture_output=True, text=True, check=True)
            ways[way] = json.loads(got.stdout.strip().splitlines()[-1])
            print(way, ways[way], file=sys.stderr)
        if served:
            ways.update(serve_ways(catalog, root, served, Path(tmp)))
        upgraded = catalog.stat().st_size  # with the pages the rebuild freed (reused later)
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    doc = {
        "groups": a.groups,
        "files": files,
        "decisions": decisions,
        "catalog_mb": round(size / 2**20, 1),
        "catalog_mb_after_upgrade": round(upgraded / 2**20, 1),
        "commit": rev.stdout.strip(),
        "machine": f"{platform.node()} {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "ways": ways,
    }
    text = json.dumps(doc, indent=1)
    print(text)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
