"""Decisions saved over a server before API 1.1 (keyed by path) show again (engine/
decision_keys.py): a real scan, decisions made the way the old app made them over
``lookalike serve`` (its groups had no file ids: ui/remote_port.py ``group_from_json`` at
d8d2001) and saved as its server saved them; opened over the new server and, from a copy of the
same catalog, locally: the same decisions show, paired in SQL, and the rows now keyed by id."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("httpx")
pytest.importorskip("skimage.data")

from lookalike.engine import Engine  # noqa: E402
from lookalike.engine.catalog import Catalog  # noqa: E402
from lookalike.engine.decision_keys import move_path_keys  # noqa: E402
from lookalike.ui.app_decisions import read_rows  # noqa: E402
from lookalike.ui.engine_port import EngineAdapter  # noqa: E402
from lookalike.ui.group_pages import open_stored  # noqa: E402
from lookalike.ui.remote_port import RemotePort  # noqa: E402
from lookalike.ui.state_store import Record, file_key, group_key  # noqa: E402
from serve_helpers import Server  # noqa: E402
from test_decisions_rescan import make_library, scan  # noqa: E402
from test_serve_paired_decisions import matched  # noqa: E402


def old_records(port: RemotePort) -> tuple[list[Record], dict[str, tuple[str, set[str]]]]:
    """One decision per stored group as the old app keyed it (members without file ids): the
    first not a duplicate, the second keeping two files, the others their first file."""
    stored = open_stored(port)
    recs, want = [], {}
    for n, g in enumerate(stored.facts(stored.all_ids())):
        old = [dataclasses.replace(m, file_id=None) for m in g.members]  # pre-1.1 groups
        assert all(m.file_id is not None for m in g.members)
        keys = {m.path: file_key(m) for m in old}
        status = "not-dup" if n == 0 else "changed" if n == 1 else "accepted"
        keep = [m.path for m in old][: 2 if n == 1 else 1]
        members = frozenset(keys.values())
        recs.append(Record(group_key(members), status, members, frozenset(keys[p] for p in keep)))
        want[g.members[0].path] = (status, set(keep))
    return recs, want


def stored_members(catalog: Path) -> list[list[str]]:
    with Catalog(catalog) as cat:
        return [json.loads(m) for (m,) in cat.db.execute("SELECT members FROM review_decisions")]


def shown(stored, decisions) -> dict[str, tuple[str, set[str]]]:
    groups = {g.id: g for g in stored.facts(stored.all_ids())}
    return {groups[gid].members[0].path: (d.status, set(d.keep)) for gid, d in decisions.items()}


def test_decisions_saved_by_path_over_an_old_server_show_again(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    make_library(lib)
    scan(Engine(tmp_path / "cat.db"), lib)
    server = Server(tmp_path, lib)
    try:
        port = RemotePort(server.url, cache=tmp_path / "remote-thumbs")
        recs, want = old_records(port)
        # what the old server's PUT /review/decisions did (this one answers it with the rows
        # read back, by then moved to file ids)
        Engine(tmp_path / "cat.db").save_decisions([r.to_json() for r in recs], [])
        assert len(want) == 4
        assert all(k.startswith("path:") for ms in stored_members(tmp_path / "cat.db") for k in ms)
        copy = tmp_path / "copy" / "cat.db"
        copy.parent.mkdir()
        with sqlite3.connect(tmp_path / "cat.db") as src, sqlite3.connect(copy) as dst:
            src.backup(dst)  # the same catalog, opened on the server's own box
        got, rows = read_rows(port)
        assert got is not None and len(got) == 4 and rows == []  # every one paired in SQL
        _, there = matched(port, stored := open_stored(port))
        assert shown(stored, there) == want
        local = EngineAdapter(Engine(copy))
        _, here = matched(local, local_stored := open_stored(local))
        assert shown(local_stored, here) == want
        for ms in (*stored_members(tmp_path / "cat.db"), *stored_members(copy)):
            assert all(k.split(":")[0].isdigit() for k in ms)
        assert {r["key"] for r in port.load_decisions()} == {d.record for d in there.values()}
        before = port.load_decisions()
        with Catalog(tmp_path / "cat.db") as cat:
            assert move_path_keys(cat.db) == 0  # once: a second run changes nothing
        assert port.load_decisions() == before
    finally:
        server.stop()


def test_a_group_decided_again_keeps_the_newer_decision(tmp_path: Path) -> None:
    """A group decided by path before the upgrade and by id after it: the newer record stays,
    and a path key whose file the catalog does not know is left as stored."""
    lib = tmp_path / "lib"
    make_library(lib)
    engine = Engine(tmp_path / "cat.db")
    scan(engine, lib)
    stored = open_stored(EngineAdapter(engine))
    g = next(iter(stored.facts(stored.all_ids())))
    by_id = frozenset(file_key(m) for m in g.members)
    by_path = frozenset(file_key(dataclasses.replace(m, file_id=None)) for m in g.members)
    gone = frozenset({f"path:{lib}/gone.jpg:1:2", f"path:{lib}/gone2.jpg:3:4"})
    first = sorted(by_path)[:1]
    rows = [
        Record(group_key(by_path), "accepted", by_path, frozenset(first), updated=1.0),
        Record(group_key(by_id), "not-dup", by_id, by_id, updated=2.0),
        Record(group_key(gone), "accepted", gone, frozenset(sorted(gone)[:1]), updated=3.0),
    ]
    engine.save_decisions([r.to_json() for r in rows], [])
    with Catalog(engine.catalog_path) as cat:
        assert move_path_keys(cat.db) == 1
    got = {r["key"]: r for r in engine.load_decisions()}
    assert set(got) == {group_key(by_id), group_key(gone)}
    assert got[group_key(by_id)]["status"] == "not-dup"
    assert got[group_key(gone)]["members"] == sorted(gone)
