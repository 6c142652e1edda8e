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
