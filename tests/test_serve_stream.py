"""The server holds no list of every group (issue 13): the thumbnail gate reads its keys from
the stored rows without decoding a group, and a plan over the whole review or a whole job
walks the groups a page at a time — the same keys and the same plan as decoding them all.
Real photos."""

from __future__ import annotations

import gc
import os
import weakref
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")
from starlette.testclient import TestClient  # noqa: E402

from lookalike.engine import catalog_groups, hidden  # noqa: E402
from lookalike.engine.api import Engine  # noqa: E402
from lookalike.engine.catalog import Catalog  # noqa: E402
from lookalike.engine.options import ScanOptions  # noqa: E402
from lookalike.engine.result_store import ResultStore  # noqa: E402
from lookalike.serve.app import ServeSettings, make_app  # noqa: E402
from lookalike.serve.visible import ReviewView, ThumbGate  # noqa: E402
from serve_helpers import make_folders, sse_events  # noqa: E402

LOCAL = "http://127.0.0.1"


def _decoded_keys(groups) -> list[int]:
    """The keys the gate held before: each decoded member's thumbnail name."""
    return sorted({int(Path(m.thumb).stem, 16) for g in groups for m in g.members if m.thumb})


def _no_decoding(monkeypatch) -> None:
    def refuse(_row):
        raise AssertionError("a group was decoded")

    monkeypatch.setattr(catalog_groups, "group_from_row", refuse)


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
            assert sse_events(s.iter_lines())[-1][1]["event"] == "finished"
        yield c, job, lib, tmp_path


def test_the_thumbnail_gate_decodes_no_group(served, monkeypatch):
    c, job, lib, tmp = served
    room = c.app.state.room
    engine = room.jobs.engine
    review = engine.group_page(engine.group_columns().tolist())
    with ResultStore(room.jobs.result_file(job)) as result:
        from_job = list(result.groups())
    want = _decoded_keys([*review, *from_job])
    assert len(want) >= 4  # exact copies share their thumbnail
    _no_decoding(monkeypatch)
    room.thumbs._build()
    assert room.thumbs.keys.dtype == np.uint64 and room.thumbs.keys.tolist() == want
    for g in review:
        for m in (m for m in g.members if m.thumb):
            assert c.get(f"/thumbs/{Path(m.thumb).stem}").status_code == 200
    assert c.get(f"/thumbs/{'e' * 16}").status_code == 404


def test_hidden_files_stay_out_of_the_gate(tmp_path):
    """A file a content rule hid is left out of the keys as the review leaves it out (its
    group decoded, as the review pages it); a group left with one file goes whole."""
    lib = make_folders(tmp_path)
    engine = Engine(tmp_path / "cat.db", tmp_path / "thumbs")
    list(engine.scan_sync(ScanOptions(roots=(lib,), workers=1)))
    before = engine.group_page(engine.group_columns().tolist())
    cat_copy = str(lib / "alpha" / "cat-copy.jpg")
    with Catalog(engine.catalog_path) as cat:
        assert hidden.hide(cat.db, [(cat_copy, "test", 1.0)]) == 1
    roots = (str(lib.resolve()),)
    view = ReviewView(engine, roots)
    jobs = SimpleNamespace(ended=0, jobs={}, engine=engine, roots=roots)
    gate = ThumbGate(jobs, view)  # type: ignore[arg-type]
    gate._build()
    after = engine.group_page(view.ords().tolist())
    assert len(after) == len(before) - 1  # the cat pair is one file now: not a group
    assert gate.keys.tolist() == _decoded_keys(after)
    gone = next(m.thumb for g in before for m in g.members if m.path == cat_copy)
    assert not gate.allows(Path(gone).stem)


def _alive(refs: list[weakref.ref]) -> int:
    gc.collect()
    return sum(r() is not None for r in refs)


@pytest.mark.parametrize("source", ["review", "job"])
def test_a_plan_over_every_group_holds_one_page(served, monkeypatch, source):
    """``POST /plans`` with no ``groups``/``removals``: the plan builder walks the review (or
    the job's result) a page at a time; with one group a page, one group is alive while a
    keeper is checked (the old build listed them all). The plan is the one a list gave."""
    from lookalike.engine.actions import plan_build
    from lookalike.engine.result_store import ResultStore as Store
    from lookalike.serve import visible

    c, job, lib, tmp = served
    monkeypatch.setattr(visible, "CHUNK", 1)
    monkeypatch.setattr("lookalike.engine.result_store.CHUNK", 1)
    refs: list[weakref.ref] = []
    alive: list[int] = []
    real_page, real_store_page = Engine.group_page, Store.page
    real_resolve = plan_build._resolve_keeper

    def page(self, ords, show_hidden=False):
        got = real_page(self, ords, show_hidden)
        refs.extend(weakref.ref(g) for g in got)
        return got

    def store_page(self, ords):
        got = real_store_page(self, ords)
        refs.extend(weakref.ref(g) for g in got)
        return got

    def resolve(g, *a):
        alive.append(_alive(refs))
        return real_resolve(g, *a)

    monkeypatch.setattr(Engine, "group_page", page)
    monkeypatch.setattr(Store, "page", store_page)
    monkeypatch.setattr(plan_build, "_resolve_keeper", resolve)
    body = {"review": True} if source == "review" else {"job": job}
    r = c.post("/plans", json={**body, "action": "trash"})
    assert r.status_code == 201, r.text
    assert len(alive) == 3 and max(alive) == 1
    items = r.json()["items"]
    assert len(items) == 3 and all(os.path.exists(i["keeper"]) for i in items)
    assert {os.path.basename(i["source"]) for i in items}.isdisjoint(
        {"moto-left.jpg", "moto-right.jpg"}
    )


def test_post_plans_streams_the_same_json(served, monkeypatch):
    """``POST /plans`` answers as a stream (no Content-Length: chunked), from the plan's
    spooled items, byte for byte the JSON the one-document answer gave; ``GET /plans/ID``
    too. Blocks of 64 bytes here: an item a piece."""
    from lookalike.engine.actions import plan_write
    from lookalike.serve import plans
    from lookalike.serve.errors import AsciiJSON

    c, job, lib, tmp = served
    real = plan_write.json_chunks
    pieces: list[bytes] = []

    def small(plan, extra, block=64):
        for chunk in real(plan, extra, 64):
            pieces.append(chunk)
            yield chunk

    monkeypatch.setattr(plans, "json_chunks", small)
    for body in ({"review": True}, {"job": job}):
        pieces.clear()
        r = c.post("/plans", json={**body, "action": "quarantine"})
        assert r.status_code == 201 and "content-length" not in r.headers, r.text
        assert r.headers["content-type"] == "application/json" and len(pieces) >= 4
        plan = plans.read_plan(c.app.state.room.state_dir, r.json()["id"])
        want = AsciiJSON(plans.plan_answer(plan)).body
        assert r.content == want and len(r.json()["items"]) == 3
        got = c.get(f"/plans/{plan.id}")
        assert got.status_code == 200 and got.content == want


def test_the_whole_review_plan_reads_each_group_once(served, monkeypatch):
    """The plan over every visible group decodes each stored group once (the builder's
    second walk reads what the first spooled; it read the catalog twice), and plans what
    the two reads planned."""
    from lookalike.engine.actions import plan_build

    c, job, lib, tmp = served
    decoded: list[int] = []
    real_page = Engine.group_page

    def page(self, ords, show_hidden=False):
        decoded.extend(ords)
        return real_page(self, ords, show_hidden)

    monkeypatch.setattr(Engine, "group_page", page)
    r = c.post("/plans", json={"review": True, "action": "trash"})
    assert r.status_code == 201, r.text
    assert sorted(decoded) == [0, 1, 2]  # the review's 3 groups, once each
    decoded.clear()
    monkeypatch.setattr(plan_build, "two_walks", _two_reads)
    again = c.post("/plans", json={"review": True, "action": "trash"})
    assert sorted(decoded) == [0, 0, 1, 1, 2, 2]  # read twice, as before
    strip = ("id", "created", "confirm", "apply")
    assert {k: v for k, v in again.json().items() if k not in strip} == {
        k: v for k, v in r.json().items() if k not in strip
    }


def _two_reads(groups, first, second):
    """The builder's walks as they were: the source read twice."""
    from lookalike.engine.actions.plan_walk import walk

    return walk(groups, first), lambda: walk(groups, second)


def test_a_scan_stored_while_the_review_is_read_refuses_the_plan(served, monkeypatch):
    """A scan that stores its groups in the middle of the one read of the review: the plan
    is refused (409, "the groups changed …"), as when two walks saw other groups."""
    c, job, lib, tmp = served
    engine = c.app.state.room.jobs.engine
    stored = engine.group_page(engine.group_columns().tolist())
    real_page = Engine.group_page
    calls: list[int] = []

    def page(self, ords, show_hidden=False):
        calls.append(1)
        got = real_page(self, ords, show_hidden)
        if len(calls) == 1:
            with Catalog(self.catalog_path) as cat:
                cat.finish_scan(cat.start_scan([str(lib)]), {}, stored, seen=None)
        return got

    monkeypatch.setattr("lookalike.serve.visible.CHUNK", 1)
    monkeypatch.setattr(Engine, "group_page", page)
    r = c.post("/plans", json={"review": True, "action": "trash"})
    assert r.status_code == 409 and "the groups changed while the plan was built" in r.text
    monkeypatch.setattr(Engine, "group_page", real_page)
    assert c.post("/plans", json={"review": True, "action": "trash"}).status_code == 201
