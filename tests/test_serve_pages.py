"""A job's result and the stored review, paged over HTTP from stored columns (issue 13): a
real scan of real photos through the job API; pages concatenated give the full result, which
is streamed byte for byte as ``lookalike scan --format json`` writes it; filters and sorts
give the engine's views; bad page requests are refused with a clear message."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

import numpy as np  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from lookalike.engine.api import Engine  # noqa: E402
from lookalike.engine.catalog_groups import SORTS, GroupFilter  # noqa: E402
from lookalike.engine.catalog_schema import group_to_row  # noqa: E402
from lookalike.engine.events import ScanFinished  # noqa: E402
from lookalike.engine.options import ScanOptions  # noqa: E402
from lookalike.headless.output import result_json  # noqa: E402
from lookalike.serve.app import ServeSettings, make_app  # noqa: E402
from serve_helpers import make_folders, sse_events  # noqa: E402

LOCAL = "http://127.0.0.1"


@pytest.fixture
def served(tmp_path: Path):
    lib = make_folders(tmp_path)
    settings = ServeSettings(
        roots=(str(lib.resolve()),),
        catalog=tmp_path / "cat.db",
        thumb_dir=tmp_path / "thumbs",
        state_dir=tmp_path / "state",
        workers=1,
    )
    with TestClient(make_app(settings), base_url=LOCAL) as c:
        r = c.post("/jobs", json={"paths": [str(lib)]})
        assert r.status_code == 202, r.text
        job = r.json()["id"]
        with c.stream("GET", f"/jobs/{job}/events") as s:
            events = sse_events(s.iter_lines())
        assert events[-1][1]["event"] == "finished"
        yield c, job, lib, tmp_path


def _no_urls(groups: list[dict], *also: str) -> list[dict]:
    drop = {"thumb_url", *also}
    return [{**g, "files": [{k: v for k, v in f.items() if k not in drop}
                            for f in g["files"]]} for g in groups]  # fmt: skip


def _stored(groups) -> list[dict]:
    """Stored groups as the review routes answer: each file with its catalog id (the app keys
    its decisions by it, as the local app does)."""
    out = []
    for g in groups:
        assert all(isinstance(m.file_id, int) for m in g.members)
        doc = g.to_json()
        out.append(
            {
                **doc,
                "files": [
                    {**f, "file_id": m.file_id}
                    for f, m in zip(doc["files"], g.members, strict=True)
                ],
            }
        )
    return out  # fmt: skip


def _pages(c, route: str, limit: int, **params) -> tuple[list[dict], list[dict]]:
    """Every page of ``route`` (groups, page answers)."""
    groups, answers, offset = [], [], 0
    while offset is not None:
        doc = c.get(route, params={"offset": offset, "limit": limit, **params}).json()
        groups += doc["groups"]
        answers.append(doc)
        offset = doc["next"]
    return groups, answers


def test_pages_concatenated_are_the_streamed_result_and_the_cli_document(served):
    c, job, lib, tmp = served
    groups, answers = _pages(c, f"/jobs/{job}/groups", 1)
    assert len(groups) == 3 and [a["total"] for a in answers] == [3, 3, 3]
    assert [len(a["groups"]) for a in answers] == [1, 1, 1] and answers[-1]["next"] is None
    assert [g["id"] for g in groups] == [1, 2, 3]
    assert all(f["thumb_url"].startswith("/thumbs/") for g in groups for f in g["files"])
    members = sorted(sorted(Path(f["path"]).name for f in g["files"]) for g in groups)
    assert members == [
        ["cat-copy.jpg", "cat.jpg"],
        ["cup-small.jpg", "cup.jpg"],
        ["man-copy.jpg", "man.jpg"],
    ]  # fmt: skip  (the two motos stay apart)

    # each file with its catalog id, as the review's pages and the job's events give it
    review = _pages(c, "/review/groups", 500)[0]
    ids = {f["path"]: f["file_id"] for g in review for f in g["files"]}
    assert all(isinstance(f["file_id"], int) for g in groups for f in g["files"])
    assert {f["path"]: f["file_id"] for g in groups for f in g["files"]} == ids

    r = c.get(f"/jobs/{job}/result")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    doc = json.loads(r.text)  # the CLI's document: no thumb_url, no file_id
    assert doc["groups"] == _no_urls(groups, "file_id")
    assert doc["errors"] == answers[0]["errors"] and doc["stats"] == answers[0]["stats"]
    assert r.text == json.dumps(doc, ensure_ascii=True, indent=1) + "\n"  # the CLI's layout

    # the same files scanned by the engine directly: the same groups, ids and order
    engine = Engine(tmp / "direct.db", tmp / "thumbs")
    opts = ScanOptions(roots=(lib,), workers=1)
    events = asyncio.run(_collect(engine.scan(opts)))
    fin = next(e for e in events if isinstance(e, ScanFinished))
    direct = result_json(list(fin.groups), list(fin.errors), fin.stats)
    assert doc["groups"] == json.loads(json.dumps(direct["groups"]))


async def _collect(stream) -> list:
    return [ev async for ev in stream]


def test_filters_and_sorts_are_the_engine_views(served):
    c, job, lib, tmp = served
    every = {g["id"]: g for g in _pages(c, f"/jobs/{job}/groups", 500)[0]}
    exact = _pages(c, f"/jobs/{job}/groups", 1, tier="exact")[0]
    assert (
        sorted(g["id"] for g in exact)
        == sorted(i for i, g in every.items() if g["tier"] == "exact")
        and len(exact) == 2
    )
    beta = _pages(c, f"/jobs/{job}/groups", 2, folder="beta")[0]
    assert {Path(g["files"][0]["path"]).parent.name for g in beta} == {"beta"} and len(beta) == 2
    by_bytes = _pages(c, f"/jobs/{job}/groups", 2, sort="bytes")[0]
    freed = [g["bytes_to_free"] for g in by_bytes]
    assert freed == sorted(freed, reverse=True) and len(by_bytes) == 3

    # the stored review (this scan's) pages the same way, and equals the engine's columns
    engine = Engine(tmp / "cat.db", tmp / "thumbs")
    review, _ = _pages(c, "/review/groups", 2)
    assert _no_urls(review) == _stored(engine.last_groups())
    assert c.get("/review/groups/count").json() == {"count": 3}
    for tier in (None, "exact", "same"):
        for sort in SORTS:
            params = {"sort": sort, **({"tier": tier} if tier else {})}
            r = c.get("/review/groups/columns", params=params)
            got = np.frombuffer(r.content, dtype="<i4")
            want = engine.group_columns(GroupFilter(tier), sort)
            assert got.tolist() == want.tolist() and r.headers["x-count"] == str(len(want))
            page = c.get("/review/groups/page", params={"ords": ",".join(map(str, got))})
            assert _no_urls(page.json()["groups"]) == _stored(engine.group_page(want.tolist()))
            paged = _pages(c, "/review/groups", 1, **params)[0]
            assert [g["id"] for g in paged] == [o + 1 for o in want.tolist()]
    every = engine.group_columns().tolist()
    facts = c.post("/review/groups/facts", json={"ords": every}).json()["groups"]
    assert facts == _stored(engine.group_facts(every))
    beta = [str(p) for p in sorted((lib / "beta").iterdir())]
    ords = c.post("/review/groups/of-files", json={"paths": beta}).json()["ords"]
    assert ords == engine.group_ords_of_files([], beta) and len(ords) == 2
    ids = [m.file_id for g in engine.group_page(ords[:1]) for m in g.members]
    got = c.post("/review/groups/of-files", json={"file_ids": ids}).json()
    assert got == {"ords": ords[:1]}


def test_bad_page_requests_are_refused_with_a_clear_message(served):
    c, job, lib, tmp = served
    for params, says in (
        ({"offset": -1}, "offset must be ≥ 0"),
        ({"offset": "x"}, "whole numbers"),
        ({"limit": 0}, "limit between 1 and 500"),
        ({"limit": 501}, "limit between 1 and 500"),
        ({"tier": "blurry"}, "unknown tier 'blurry'"),
        ({"sort": "name"}, "unknown sort 'name'"),
    ):
        for route in (f"/jobs/{job}/groups", "/review/groups"):
            r = c.get(route, params=params)
            assert r.status_code == 422 and says in r.json()["error"], (route, params, r.text)
            assert r.json()["hint"] or "offset" in params or "limit" in params
    past = c.get(f"/jobs/{job}/groups", params={"offset": 10}).json()
    assert past["groups"] == [] and past["next"] is None and past["total"] == 3
    for ords in ("1,x", ",".join(["0"] * 501), "-1"):
        r = c.get("/review/groups/page", params={"ords": ords})
        assert r.status_code == 422 and "ords" in r.json()["error"] + r.json()["hint"]
    for body, says in (
        ({"ords": [0, "x"]}, '"ords" must be a list'),
        ({"ords": [-1]}, '"ords" must be a list'),
        ({"ords": [0] * 5001}, "at most 5000 ords"),
        ([], '"ords" must be a list'),
    ):
        r = c.post("/review/groups/facts", json=body)
        assert r.status_code == 422 and says in r.json()["error"], (body, r.text)
    for body, says in (
        ({"file_ids": ["1"]}, '"file_ids" must be a list'),
        ({"paths": [""]}, '"paths" must be a list'),
        ({"paths": ["/x"] * 1000, "file_ids": [1] * 1001}, "at most 2000 file ids and paths"),
    ):
        r = c.post("/review/groups/of-files", json=body)
        assert r.status_code == 422 and says in r.json()["error"], (body, r.text)
    assert c.get("/jobs/nope/result").status_code == 404


def test_a_result_an_older_server_kept_is_converted_once(served):
    c, job, lib, tmp = served
    before = c.get(f"/jobs/{job}/groups").json()
    jobs_dir = tmp / "state" / "jobs"
    store = jobs_dir / f"{job}.groups.db"
    from lookalike.engine.result_store import ResultStore

    with ResultStore(store) as res:  # write the files an older server wrote
        groups, errors, stats = list(res.groups()), res.errors(), res.stats()
    doc = result_json(groups, errors, stats)
    (jobs_dir / f"{job}.groups.json").write_text(json.dumps(doc, ensure_ascii=True))
    rows = [group_to_row(g) for g in groups]
    (jobs_dir / f"{job}.rows.json").write_text(json.dumps(rows, ensure_ascii=True))
    store.unlink()
    assert c.get(f"/jobs/{job}/groups").json() == before
    assert store.is_file() and not (jobs_dir / f"{job}.groups.json").exists()
    plan = c.post("/plans", json={"job": job, "action": "trash", "groups": [1]})
    assert plan.status_code == 201 and len(plan.json()["items"]) == 1


def test_groups_outside_the_roots_stay_out_of_the_review_columns(tmp_path: Path):
    lib = make_folders(tmp_path)
    private = tmp_path / "private"
    shutil.copytree(lib / "alpha", private)
    engine = Engine(tmp_path / "cat.db", tmp_path / "thumbs")
    asyncio.run(_collect(engine.scan(ScanOptions(roots=(private,), workers=1))))
    assert engine.group_count() == 1
    settings = ServeSettings(roots=(str(lib.resolve()),), catalog=tmp_path / "cat.db",
                             thumb_dir=tmp_path / "thumbs", state_dir=tmp_path / "state")  # fmt: skip
    with TestClient(make_app(settings), base_url=LOCAL) as c:
        assert c.get("/review/groups/count").json() == {"count": 0}
        assert c.get("/review/groups/columns").content == b""
        assert c.get("/review/groups/page", params={"ords": "0"}).json() == {"groups": []}
        assert c.get("/review/groups").json()["total"] == 0
        assert c.post("/review/groups/facts", json={"ords": [0]}).json() == {"groups": []}
        inside = [str(p) for p in sorted(private.iterdir())]
        assert engine.group_ords_of_files([], inside) == [0]  # stored, but not served
        assert c.post("/review/groups/of-files", json={"paths": inside}).json() == {"ords": []}


def test_event_log_keeps_offsets_and_cuts_a_half_written_line(tmp_path: Path):
    """A job's events stay on disk (8 bytes an event in memory); the line a killed server
    left half written is cut off, so the next event is read back whole."""
    from lookalike.serve.eventlog import EventLog

    path = tmp_path / "job.events.jsonl"
    log = EventLog(path)
    group = {"event": "group", "files": [{"path": "/p/\udcff.jpg"}] * 50}
    for n in range(3):
        log.append({**group, "id": n})
    assert len(log) == 3 and log.starts.itemsize == 8
    assert [json.loads(t)["id"] for t in log.read(1, 10)] == [1, 2]
    assert log.all()[0]["files"][0]["path"] == "/p/\udcff.jpg"  # any file name comes back
    with open(path, "a", encoding="ascii") as fh:
        fh.write('{"event": "progr')  # a server killed mid-write
    again = EventLog(path)
    assert len(again) == 3
    again.append({"event": "notice", "message": "resumed"})
    assert [e.get("id", e["event"]) for e in EventLog(path).all()] == [0, 1, 2, "notice"]


def test_the_roots_test_resolves_symlinked_files_and_folders(tmp_path: Path):
    """A group is outside the roots when a member resolves outside: a symlinked file or a
    symlinked folder under a root that points out of it (folders resolved once each)."""
    from lookalike.serve.scanargs import under_roots
    from lookalike.serve.visible import _outside_test

    root, away = tmp_path / "root", tmp_path / "away"
    (root / "sub").mkdir(parents=True)
    away.mkdir()
    for p in (root / "sub" / "a.jpg", away / "x.jpg"):
        p.write_bytes(b"x")
    (root / "link.jpg").symlink_to(away / "x.jpg")
    (root / "dirlink").symlink_to(away)
    (root / "inner").symlink_to(root / "sub")
    roots = (str(root.resolve()),)
    outside = _outside_test(roots)
    cases = {
        root / "sub" / "a.jpg": False,
        root / "inner" / "a.jpg": False,
        root / "link.jpg": True,
        root / "dirlink" / "x.jpg": True,
        away / "x.jpg": True,
        root / "sub" / "gone.jpg": False,  # vanished since: where its folder is
    }
    for path, want in cases.items():
        assert outside(str(path)) is want, path
        assert want is not under_roots(str(path), roots), path


def test_a_review_plan_reads_only_the_groups_it_names(served, monkeypatch):
    """``POST /plans {"review": true, "removals": …}`` decodes the named groups only (a page
    read of their ords), not every visible group; the plan is the one the whole review gave."""
    c, job, lib, tmp = served
    engine = Engine(tmp / "cat.db", tmp / "thumbs")
    every = engine.group_page(engine.group_columns().tolist())
    g = next(g for g in every if g.tier == "exact")
    gone = next(m.path for m in g.members if m.path != g.keep)
    asked: list[list[int]] = []
    real_page = Engine.group_page

    def page(self, ords, show_hidden=False):
        asked.append([int(o) for o in ords])
        return real_page(self, ords, show_hidden)

    monkeypatch.setattr(Engine, "group_page", page)
    body = {"review": True, "action": "trash", "removals": {str(g.id): [gone]}}
    r = c.post("/plans", json=body)
    assert r.status_code == 201, r.text
    assert [i["source"] for i in r.json()["items"]] == [gone]
    assert asked == [[g.id - 1]]
    asked.clear()
    r = c.post("/plans", json={**body, "groups": [g.id, 99]})
    assert r.status_code == 201 and asked == [[g.id - 1]]
    asked.clear()
    r = c.post("/plans", json={"review": True, "action": "trash", "removals": {"99": [gone]}})
    assert r.status_code == 422 and "no group 99" in r.json()["error"] and asked == [[98]]
    asked.clear()
    r = c.post("/plans", json={"review": True, "action": "trash"})  # the whole review,
    # read once by the plan builder (its second walk reads what the first spooled), a page
    # at a time, never listed
    assert r.status_code == 201 and sorted(o for a in asked for o in a) == [0, 1, 2]
    acted = [g for g in every if g.tier in ("exact", "same")]  # the default tiers
    assert len(r.json()["items"]) == sum(len(g.members) - 1 for g in acted) >= 2
