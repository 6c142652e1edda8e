"""A large catalog's integrity check runs beside the walk (catalog_health.CheckBehind): a
damaged one is still never written to and the scan stops with the same error, a sound one
scans as ever, and the check ran in its own thread while the walk went on."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path

import pytest

from lookalike.engine import Engine, ScanOptions, catalog_health
from lookalike.engine.events import ScanFinished, StageDone


def _jpeg(img, size: tuple[int, int]) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).convert("RGB").resize(size).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    from skimage import data

    root = tmp_path / "lib"
    root.mkdir()
    (root / "a.jpg").write_bytes(_jpeg(data.astronaut(), (300, 200)))
    (root / "a_small.jpg").write_bytes(_jpeg(data.astronaut(), (150, 100)))  # a look-alike
    (root / "b.jpg").write_bytes(_jpeg(data.coffee(), (240, 320)))
    return root


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _every_catalog_large(monkeypatch) -> list[str]:
    """Every catalog counts as large, the process's "found sound" set is empty, and the
    names of the threads that ran a check are recorded."""
    monkeypatch.setattr(catalog_health, "CHECK_BEHIND_BYTES", 0)
    catalog_health._CHECKED.clear()
    threads: list[str] = []
    check = catalog_health._quick_check

    def recorded(path):
        threads.append(threading.current_thread().name)
        return check(path)

    monkeypatch.setattr(catalog_health, "_quick_check", recorded)
    return threads


def test_a_sound_large_catalog_is_checked_beside_the_walk(lib, tmp_path, monkeypatch):
    engine = Engine(tmp_path / "catalog.db", tmp_path / "thumbs")
    first = list(engine.scan_sync(ScanOptions(roots=(lib,), workers=1)))[-1]
    threads = _every_catalog_large(monkeypatch)
    events = list(engine.scan_sync(ScanOptions(roots=(lib,), workers=1)))
    fin = events[-1]
    assert isinstance(fin, ScanFinished) and not fin.errors
    assert [{m.path for m in g.members} for g in fin.groups] == [
        {m.path for m in g.members} for g in first.groups
    ]
    assert fin.stats.files_unchanged == 3
    assert threads[0] == "lookalike-check"  # checked in its own thread, then found sound
    assert any(isinstance(e, StageDone) and e.stage == "discover" for e in events)


def test_a_damaged_large_catalog_is_never_written(lib, tmp_path, monkeypatch):
    from lookalike.engine.catalog import CatalogDamaged

    db = tmp_path / "catalog.db"
    engine = Engine(db, tmp_path / "thumbs")
    list(engine.scan_sync(ScanOptions(roots=(lib,), workers=1)))
    raw = bytearray(db.read_bytes())
    page = int.from_bytes(raw[16:18], "big")
    for start in range(page, len(raw), page):  # garbage over every page but the first
        raw[start : start + 64] = os.urandom(64)
    db.write_bytes(bytes(raw))
    before = _sha(db)
    threads = _every_catalog_large(monkeypatch)
    with pytest.raises(CatalogDamaged):
        list(engine.scan_sync(ScanOptions(roots=(lib,), workers=1)))
    assert threads[0] == "lookalike-check"
    assert _sha(db) == before  # never written
