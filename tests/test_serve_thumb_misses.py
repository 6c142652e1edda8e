"""A thumbnail the server has none of is asked for once, not on every page read (RemotePort
remembers the 404 per key until a scan through it): counted on a real ``lookalike serve``."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("httpx")
pytest.importorskip("skimage.data")

from lookalike import config  # noqa: E402
from lookalike.ui.group_pages import open_stored  # noqa: E402
from lookalike.ui.remote_port import RemotePort  # noqa: E402
from serve_helpers import Server, counted  # noqa: E402
from test_decisions_rescan import make_library  # noqa: E402
from test_serve_paired_decisions import rescan  # noqa: E402


def read_all(port: RemotePort) -> list:
    stored = open_stored(port)
    return port.group_page([i - 1 for i in stored.all_ids()])


def test_a_missing_thumbnail_is_asked_once_until_a_scan(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    make_library(lib)
    server = Server(tmp_path, lib)
    try:
        rescan(RemotePort(server.url, cache=tmp_path / "first"), lib)
        made = sorted(config.thumbnail_dir().glob("??/*.jpg"))  # the members' files, no packs
        assert len(made) >= 8
        gone = made[0].stem
        for p in made:
            if p.stem == gone:
                p.unlink()  # the server has no thumbnail for this key any more
        port = RemotePort(server.url, cache=tmp_path / "second")
        asked = counted(port)
        groups = read_all(port)
        members = [m for g in groups for m in g.members]
        assert asked[gone] == 1 and sum(asked.values()) == len(made)  # each key once
        assert sum(m.thumb is None for m in members) == 1
        asked.clear()
        for _ in range(3):  # page reads again: nothing asked (the rest are on disk here)
            again = read_all(port)
            assert [m.thumb for g in again for m in g.members] == [m.thumb for m in members]
        assert sum(asked.values()) == 0
        rescan(port, lib)  # a scan may make it: asked again (during the scan or after it)
        read_all(port)
        assert asked[gone] >= 1
        asked.clear()
        read_all(port)
        assert sum(asked.values()) == 0
    finally:
        server.stop()
