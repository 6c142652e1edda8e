"""Stored decisions paired on a REAL ``lookalike serve`` (serve/decisions.py,
ui/remote_decisions.py): the app over a server gets what it gets from the same catalog
locally — the same rows paired in SQL, the same other records, the same decisions as the rule
(``match_records``) — on random stores (the builders of tests/test_stored_match.py) and on a
real scan whose decisions were made over the server and survive a rescan; an older server
without the routes gives every row, as before."""

from __future__ import annotations

import asyncio
import os
from dataclasses import astuple
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from lookalike.engine import Engine  # noqa: E402
from lookalike.engine.catalog import Catalog  # noqa: E402
from lookalike.engine.options import ScanOptions  # noqa: E402
from lookalike.engine.records import Group  # noqa: E402
from lookalike.ui.app_decisions import match_left, read_rows  # noqa: E402
from lookalike.ui.engine_port import EngineAdapter  # noqa: E402
from lookalike.ui.group_pages import keyed, open_stored  # noqa: E402
from lookalike.ui.remote_decisions import _key_chunks  # noqa: E402
from lookalike.ui.remote_port import RemotePort  # noqa: E402
from lookalike.ui.state import ReviewState  # noqa: E402
from lookalike.ui.state_store import Record, file_key, parse_records  # noqa: E402
from lookalike.ui.stored_match import match_stored  # noqa: E402
from lookalike.ui.stored_records import StoredRecords  # noqa: E402
from serve_helpers import Server  # noqa: E402
from test_stored_match import BATCHES, member, record_sets, reference  # noqa: E402


def matched(port, stored) -> tuple[object, dict]:
    """What the app's open does (app_decisions.match_later) through this port."""
    got, rows = read_rows(port)
    if got is None:
        records = parse_records(rows)
        return records, match_stored(stored, records)
    return match_left(port, stored, got, rows)


def pair_rows(got) -> list[tuple] | None:
    if got is None:
        return None
    return [(*astuple(p)[:4], [os.fsdecode(b) for b in p.kept],
             [os.fsdecode(b) for b in p.undecided]) for p in got]  # fmt: skip


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("served")
    lib = tmp / "lib"
    lib.mkdir()
    server = Server(tmp, lib)
    try:
        yield tmp, lib, RemotePort(server.url, cache=tmp / "remote-thumbs")
    finally:
        server.stop()


@st.composite
def lib_stores(draw, folder: str):
    """tests/test_stored_match.py ``stores``, the files under the server's root."""
    n = draw(st.integers(4, 16))
    with_id = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    files = [member(i, with_id[i] or draw(st.integers(0, 3)) > 0, folder) for i in range(n)]
    order = draw(st.permutations(range(n)))
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=n // 2)))
    groups = [[files[i] for i in order[a:b]] for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
    groups = [g for g in groups if len(g) >= 2]
    if groups and draw(st.booleans()):  # a file in two groups
        groups[-1].append(draw(st.sampled_from(groups[0])))
    return files, groups


def restore(catalog: Path, root: str, groups: list, rows: list[dict]) -> None:
    """The server's catalog now holds these groups and exactly these decisions."""
    gs = [Group(n + 1, "similar", ms[0].path, "", tuple(ms)) for n, ms in enumerate(groups)]
    with Catalog(catalog) as cat:
        cat.finish_scan(cat.start_scan([root]), {}, gs, seen=None)
        old = [r["key"] for r in cat.review_decisions()]
        cat.save_review_decisions(rows, old)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_the_server_pairs_as_the_local_catalog_and_the_rule(served, data) -> None:
    tmp, lib, port = served
    files, groups = data.draw(lib_stores(str(lib)))
    recs = data.draw(record_sets(files, groups))
    rows = [
        Record(name, status, members, keep & members, und & members, data.draw(BATCHES)).to_json()
        for name, members, keep, und, status in recs
    ]
    if data.draw(st.booleans()):  # no key by path: the catalog pairs what it can
        rows = [r for r in rows if not any(k.startswith("path:") for k in r["members"])]
    restore(tmp / "cat.db", str(lib), groups, rows)
    local = EngineAdapter(Engine(tmp / "cat.db"))
    here, there = open_stored(local), open_stored(port)
    if here is None:
        assert there is None
        return
    assert list(there.all_ids()) == list(here.all_ids())
    got_here, rows_here = read_rows(local)
    got_there, rows_there = read_rows(port)
    assert pair_rows(got_there) == pair_rows(got_here)
    assert rows_there == rows_here
    every = parse_records(local.load_decisions())
    records_here, decided_here = matched(local, here)
    records_there, decided_there = matched(port, there)
    assert decided_there == decided_here == reference(here, every)
    assert isinstance(records_there, StoredRecords) == (got_here is not None)
    assert dict(records_there.items()) == every  # every record kept (read by key over HTTP)


def test_a_decision_made_over_the_server_is_rematched_after_a_rescan(tmp_path: Path) -> None:
    """A real scan through the server, every group decided through it; a new copy joins one
    group and the server scans again: the unchanged groups are paired in SQL on the server,
    the grown one keeps its decision with the new file undecided — as the local app finds."""
    pytest.importorskip("skimage.data")
    from test_decisions_rescan import add_astronaut_copy, make_library

    lib = tmp_path / "lib"
    make_library(lib)
    server = Server(tmp_path, lib)
    try:
        port = RemotePort(server.url, cache=tmp_path / "remote-thumbs")
        rescan(port, lib)
        state = ReviewState()
        state.set_stored(open_stored(port))
        assert len(state.groups) == 4
        state.accept_all_remaining()
        port.save_decisions(*state.take_changes())
        new = add_astronaut_copy(lib)
        rescan(port, lib)
        stored = open_stored(port)
        got, rows = read_rows(port)
        assert got is not None and len(got) == 3 and len(rows) == 1  # the grown group: rule
        records, decisions = match_left(port, stored, got, rows)
        local = EngineAdapter(Engine(tmp_path / "cat.db"))
        assert decisions == matched(local, open_stored(local))[1]
        grown = [d for d in decisions.values() if d.new]
        assert len(decisions) == 4 and [d.new for d in grown] == [frozenset({str(new)})]
        assert records.as_dict() == parse_records(local.load_decisions())
    finally:
        server.stop()


def rescan(port: RemotePort, lib: Path) -> None:
    """A scan through the server; the groups it streams key their files as the stored
    review does (by catalog file id): a decision made during the scan is found after it."""
    from lookalike.engine.events import GroupFound

    async def run() -> list:
        return [ev async for ev in port.scan(ScanOptions(roots=(lib,), workers=1))]

    events = asyncio.run(run())
    assert not events[-1].cancelled
    live = {frozenset(map(file_key, e.group.members)) for e in events if isinstance(e, GroupFound)}
    stored = open_stored(port)
    assert live == {frozenset(ks) for _, ks in keyed(stored.facts(stored.all_ids()))}
    assert all(":" in k and k.split(":")[0].isdigit() for ks in live for k in ks)


def test_an_older_server_without_the_routes_gives_every_row(tmp_path: Path) -> None:
    """The same catalog served without the 1.1 routes (404): the app reads every row and
    matches them all by the rule, as before; by key it filters every row."""
    from starlette.testclient import TestClient

    from lookalike.serve.app import ServeSettings, make_app

    lib = tmp_path / "lib"
    lib.mkdir()
    files = [member(i, True, str(lib)) for i in range(6)]
    groups = [files[0:2], files[2:4], files[4:6]]
    rows = [
        Record(f"r{n}", "accepted", frozenset(ks), frozenset(ks[:1])).to_json()
        for n, ks in enumerate([[f"{m.file_id}:{m.size}:{m.mtime_ns}" for m in g] for g in groups])
    ]
    restore(tmp_path / "cat.db", str(lib), groups, rows)
    app = make_app(ServeSettings(roots=(str(lib),), catalog=tmp_path / "cat.db",
                                 state_dir=tmp_path / "state", workers=1))  # fmt: skip
    app.router.routes = [r for r in app.router.routes
                         if not r.path.startswith("/review/decisions/")]  # fmt: skip
    with TestClient(app, base_url="http://127.0.0.1") as client:
        port = RemotePort("http://127.0.0.1", cache=tmp_path / "thumbs")
        port.http = client
        got, every = read_rows(port)
        assert got is None and every == Engine(tmp_path / "cat.db").load_decisions()
        assert [r["key"] for r in port.load_decisions(["r2", "nope", "r0"])] == ["r0", "r2"]
        records, decisions = matched(port, open_stored(port))
        local = EngineAdapter(Engine(tmp_path / "cat.db"))
        assert decisions == reference(open_stored(local), parse_records(every))
        assert len(decisions) == 3 and records == parse_records(every)


def test_keys_are_asked_in_chunks_under_the_bounds() -> None:
    keys = [f"{i:032x}" for i in range(2500)]
    chunks = _key_chunks(keys)
    assert [k for c in chunks for k in c] == keys
    assert all(len(c) <= 1000 and len(str(c)) < 48 * 1024 for c in chunks)
    assert _key_chunks([]) == []


async def test_the_app_on_a_server_opens_as_the_local_one(tmp_path: Path, monkeypatch) -> None:
    """The real app (Pilot) on a real server whose catalog has every group decided (one not a
    duplicate): the first page shows while the decisions are matched, a key that only moves
    acts at once, a decision key and the move after it wait; the decisions come back as the
    local app finds them, paired on the server and left there; q waits and saves exactly the
    one record the "u" changed."""
    import threading

    pytest.importorskip("skimage.data")
    from lookalike.ui import app_decisions
    from lookalike.ui.app import make_app
    from test_decisions_rescan import make_library, wait_for

    lib = tmp_path / "lib"
    make_library(lib)
    server = Server(tmp_path, lib)
    gate, threads = threading.Event(), []
    try:
        port = RemotePort(server.url, cache=tmp_path / "remote-thumbs")
        events = [ev async for ev in port.scan(ScanOptions(roots=(lib,), workers=1))]
        assert not events[-1].cancelled
        state = ReviewState()
        state.set_stored(open_stored(port))
        state.accept_all_remaining()
        state.goto_index(1)
        state.not_duplicate()
        port.save_decisions(*state.take_changes())
        engine = Engine(tmp_path / "cat.db")
        before = sorted(engine.load_decisions(), key=lambda d: d["key"])
        local = EngineAdapter(engine)
        want = {g: (d.status, d.keep, d.new, d.record)
                for g, d in matched(local, open_stored(local))[1].items()}  # fmt: skip
        assert len(want) == 4
        match = app_decisions.match_stored

        def gated(stored, records):
            threads.append(threading.current_thread())
            assert gate.wait(60)
            return match(stored, records)

        monkeypatch.setattr(app_decisions, "match_stored", gated)
        app = make_app({"scan": {"workers": 1}}, port, graphics="none", start_mode="review")
        async with app.run_test(size=(130, 40)) as pilot:
            r = app.review
            await wait_for(pilot, lambda: r.current is not None and bool(threads), 60)
            assert r.decisions == {} and app.matching
            await pilot.press("j")  # only moves: acts while the decisions are matched
            await wait_for(pilot, lambda: r.cursor == 1, 10)
            on = r.view[1]
            await pilot.press("u", "k")  # waits, and the move typed after it too
            await pilot.pause(0.2)
            assert r.cursor == 1 and r.decisions == {} and app.matching
            gate.set()
            await wait_for(pilot, lambda: not app.matching and r.cursor == 0, 60)
            got = {g: (d.status, d.keep, d.new, d.record) for g, d in r.decisions.items()}
            assert got == {g: d for g, d in want.items() if g != on}
            assert isinstance(r.records, StoredRecords) and len(r.records) == 3  # less "u"'s
            assert len(r.records.left) == 3  # paired on the server, never sent as records
            await pilot.press("q")
    finally:
        gate.set()
        server.stop()
    assert sorted(engine.load_decisions(), key=lambda d: d["key"]) == [
        d for d in before if d["key"] != want[on][3]
    ]


def test_a_stream_cut_short_is_an_error_that_says_so(tmp_path: Path) -> None:
    """Fewer lines than the head says (a server killed mid-answer): a RemoteError that says
    the decisions were cut off, never a review with some of them missing."""
    from starlette.responses import Response
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from lookalike.serve.app import ServeSettings, make_app
    from lookalike.ui.remote_port import RemoteError

    lib = tmp_path / "lib"
    lib.mkdir()
    app = make_app(ServeSettings(roots=(str(lib),), catalog=tmp_path / "cat.db",
                                 state_dir=tmp_path / "state", workers=1))  # fmt: skip
    head = b'{"paired": 2, "rows": 1, "sql": true}\n'
    pair = b'{"key": "k", "ord": 0, "status": "accepted", "batch": null, "kept": [], "undecided": []}\n'

    def cut(request) -> Response:
        return Response(head + pair, media_type="application/x-ndjson")

    app.router.routes.insert(0, Route("/review/decisions/paired", cut))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        port = RemotePort("http://127.0.0.1", cache=tmp_path / "thumbs")
        port.http = client
        with pytest.raises(RemoteError, match=r"cut off \(1 of 2 paired, 0 of 1 others\)"):
            read_rows(port)
        app.router.routes[0] = Route("/review/decisions/paired", lambda r: Response(b"{\n"))
        with pytest.raises(RemoteError, match="cannot read the stored decisions"):
            read_rows(port)
