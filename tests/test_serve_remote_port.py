"""``lookalike --server URL``: the app's engine port over a real server on real photos — scan
events back as engine events, stored groups with local thumbnails, review state, a plan with the
reviewer's removals, apply, history, undo and redo through the server's journal."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

import numpy as np  # noqa: E402

from lookalike.engine.api import Engine  # noqa: E402
from lookalike.engine.catalog_groups import GroupFilter  # noqa: E402
from lookalike.engine.events import GroupFound, ScanFinished, ScanStarted, StageProgress  # noqa: E402
from lookalike.engine.options import ScanOptions  # noqa: E402
from lookalike.ui.engine_port import ActionsUnavailable, EnginePort  # noqa: E402
from lookalike.ui.group_pages import GroupPages, StoredReview, keyed  # noqa: E402
from lookalike.ui.remote_port import (  # noqa: E402
    RemoteError,
    RemoteGroups,
    RemotePort,
    _lookup_chunks,
    scan_body,
)
from serve_helpers import Server, make_library, snapshot  # noqa: E402


async def _collect(stream) -> list:
    return [ev async for ev in stream]


def test_the_app_port_works_on_a_server(tmp_path: Path):
    lib = make_library(tmp_path)
    before = snapshot(lib)
    server = Server(tmp_path, lib)
    try:
        port = RemotePort(server.url, cache=tmp_path / "remote-thumbs")
        assert isinstance(port, EnginePort)
        events = asyncio.run(_collect(port.scan(ScanOptions(roots=(lib,), workers=1))))
        assert isinstance(events[0], ScanStarted) and isinstance(events[-1], ScanFinished)
        assert any(isinstance(e, StageProgress) for e in events)
        found = [e.group for e in events if isinstance(e, GroupFound)]
        fin = events[-1]
        assert len(found) == len(fin.groups) == 2 and fin.stats.groups == 2
        assert isinstance(fin.groups, RemoteGroups)  # paged when read, not fetched at the end
        assert [g.to_json() for g in fin.groups[::-1]] == [fin.groups[-1].to_json(),
                                                           fin.groups[0].to_json()]  # fmt: skip
        assert [g.keep for g in fin.groups] == [g.keep for g in found]
        with pytest.raises(IndexError):
            fin.groups[2]
        for m in (m for g in fin.groups for m in g.members):
            assert Path(m.thumb).read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG, fetched here
            assert Path(m.thumb).is_relative_to(tmp_path / "remote-thumbs")

        stored = port.last_groups()
        assert sorted(sorted(m.path for m in g.members) for g in stored) == sorted(
            sorted(m.path for m in g.members) for g in fin.groups
        )
        _pages_match_the_engine(port, Engine(tmp_path / "cat.db", tmp_path / "t"), lib)
        port.save_state("ui.recent", ["/x"])
        assert port.load_state("ui.recent") == ["/x"] and port.load_state("nope", 5) == 5
        assert port.load_decisions() == [] and port.recovery_notes() == []
        with pytest.raises(RemoteError, match="outside the server's roots"):
            port.mark_not_duplicate(["/etc/passwd", str(lib / "cat.jpg")])
        cat_jpg = str(lib / "cat.jpg")
        port.set_mark(cat_jpg, True)
        port.set_note(cat_jpg, "the original")
        marks = port.catalog_marks()
        assert marks["marked"] == [cat_jpg] and marks["notes"] == {cat_jpg: "the original"}
        assert port.file_info(cat_jpg)
        with pytest.raises(RemoteError, match="outside the server's roots"):
            port.file_info("/etc/hostname")
        said = port.make_pdf([cat_jpg, str(lib / "man.jpg")], str(tmp_path / "out.pdf"))
        assert "2 page(s)" in said and (tmp_path / "out.pdf").read_bytes()[:5] == b"%PDF-"
        port.set_mark(cat_jpg, False)
        assert port.catalog_marks()["marked"] == []
        with pytest.raises(ActionsUnavailable, match="on the box"):
            port.rule_previews()

        cat = next(g for g in stored if any(m.path.endswith("cat.jpg") for m in g.members))
        copy = next(m.path for m in cat.members if m.path.endswith("cat-copy.jpg"))
        keeper = next(m.path for m in cat.members if m.path != copy)
        plan = port.plan(stored, {cat.id: [copy]}, "trash")
        assert [i.source for i in plan.items] == [copy] and plan.operation == "trash"
        done = port.apply(plan, lambda p: None)
        assert done.done == 1 and not Path(copy).exists() and Path(keeper).exists()
        assert [b.batch_id for b in port.history()] == [done.batch_id]
        assert port.undo(done.batch_id).done == 1
        assert snapshot(lib) == before  # byte-identical restore
        again = port.redo(done.batch_id)
        assert again.done == 1 and not Path(copy).exists()
        assert port.undo(again.batch_id).done == 1
        assert snapshot(lib) == before
    finally:
        server.stop()


def _facts(groups) -> list:
    return [(g.id, g.tier, g.keep, g.reason, [(m.path, m.size, m.flags) for m in g.members])
            for g in groups]  # fmt: skip


def _pages_match_the_engine(port: RemotePort, engine: Engine, lib: Path) -> None:
    """group_count / group_columns / group_page over HTTP = the Engine's on its catalog."""
    assert port.group_count() == engine.group_count() == 2
    views = (
        (None, "order"),
        (GroupFilter("exact"), "bytes"),
        (GroupFilter("same"), "tier"),
        (GroupFilter(folder=lib.name), "size"),
        (GroupFilter(folder="nowhere"), "order"),
    )
    for flt, sort in views:  # fmt: skip
        ords = port.group_columns(flt, sort)
        want = engine.group_columns(flt, sort)
        assert ords.dtype == np.int32 and ords.tolist() == want.tolist(), (flt, sort)
        assert _facts(port.group_page(ords)) == _facts(engine.group_page(want.tolist()))
    assert len(port.group_columns(GroupFilter("exact"))) == 1
    pages = GroupPages(port, None, "bytes")  # the app's paging object, on the server
    assert len(pages) == 2 and _facts(pages[:]) == _facts(
        engine.group_page(engine.group_columns(None, "bytes").tolist())
    )
    for m in (m for g in pages for m in g.members):  # thumbnails fetched into the local cache
        assert Path(m.thumb).read_bytes()[:3] == b"\xff\xd8\xff" and "remote-thumbs" in m.thumb
    # the member columns and the file lookup are served: no page read to match records
    every = engine.group_columns().tolist()
    assert _facts(port.group_facts(every)) == _facts(engine.group_facts(every))
    paths = [str(lib / "cat.jpg"), str(lib / "man.jpg")]
    assert port.group_ords_of_files([], paths) == engine.group_ords_of_files([], paths)
    cat = engine.group_ords_of_files([], paths[:1])
    assert len(cat) == 1 and port.group_ords_of_files([], paths[:1]) == cat
    stored = StoredReview(port)
    cat_keys = {
        k for _, keys in keyed(port.group_facts(cat)) for k, p in keys.items() if p == paths[0]
    }
    got = stored.keyed_groups(cat_keys)
    assert [gid for gid, _ in got] == [cat[0] + 1] and stored.all.loads == 0


def test_remote_port_follows_the_engine_port():
    """A method added to EnginePort needs its RemotePort twin (and a route if it needs one)."""
    missing = [m for m in dir(EnginePort) if not m.startswith("_") and not hasattr(RemotePort, m)]
    assert not missing, f"ui/remote_port.py lacks {missing}: add them (see docs/api.md)"


def test_file_lookups_are_cut_under_the_server_bounds():
    """Many decided files: every id and path asked once, each body within the bounds."""
    import json

    ids, paths = list(range(3000)), [f"/photos/{'é' * 80}/{i}.jpg" for i in range(900)]
    chunks = _lookup_chunks(ids, paths)
    assert [i for c in chunks for i in c["file_ids"]] == ids
    assert [p for c in chunks for p in c["paths"]] == paths
    assert all(len(c["file_ids"]) + len(c["paths"]) <= 2000 for c in chunks)
    assert all(len(json.dumps(c)) < 64 * 1024 for c in chunks) and len(chunks) >= 3
    assert _lookup_chunks([], []) == []


def test_scan_body_speaks_the_scan_command_options(tmp_path):
    opts = ScanOptions(roots=(tmp_path,), min_size=1000, same=False, hidden=True, workers=2)
    body = scan_body(opts)
    assert body["paths"] == [str(tmp_path)]
    assert body["options"]["exact_only"] is True and body["options"]["min_size"] == 1000
    assert body["options"]["hidden"] is True and "keep_rule" not in body["options"]


def test_server_option_needs_a_url():
    from click.testing import CliRunner

    from lookalike.cli import main

    r = CliRunner().invoke(main, ["--server", "localhost:8765"])
    assert r.exit_code == 2 and "not an http(s) URL" in r.output
