"""The features index (catalog_schema.FEATURE_INDEX): a new catalog has it, an older small one
gains it when opened, an older large one in its next scan with a line (and no other opener
stalls on it); which files have which version is read from it, while the reads of a whole
name keep the table scan; a scan's output is the same with or without it."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest
from PIL import Image
from skimage import data

from lookalike.engine import catalog_schema, thumb_refs
from lookalike.engine.api import Engine
from lookalike.engine.catalog import Catalog
from lookalike.engine.events import Notice
from lookalike.engine.options import ScanOptions
from lookalike.headless.runner import run_scan


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    """A photo and its half-size re-save (a "same" group), and a lone photo."""
    lib = tmp_path / "lib"
    lib.mkdir()
    img = Image.fromarray(data.chelsea())
    img.save(lib / "cat.jpg", quality=92)
    img.resize((img.width // 2, img.height // 2)).save(lib / "cat-small.jpg", quality=80)
    Image.fromarray(data.coffee()).save(lib / "cup.jpg", quality=90)
    return lib


def _has_index(db: Path) -> bool:
    with sqlite3.connect(db) as con:
        sql = "SELECT 1 FROM sqlite_master WHERE type='index' AND name='features_name'"
        return con.execute(sql).fetchone() is not None


def _drop_index(db: Path) -> None:
    """The catalog as a lookalike from before the index left it."""
    with sqlite3.connect(db) as con:
        con.execute("DROP INDEX features_name")
    assert not _has_index(db)


def _scan(engine: Engine, lib: Path) -> tuple[dict, list[str]]:
    """The ``--format json`` document less its seconds, and the notices said on stderr."""
    out, err = io.StringIO(), io.StringIO()
    opts = ScanOptions(roots=(lib,), workers=1, thumbnails=False)
    got = run_scan(engine, opts, "json", out, None, progress="plain", err=err)
    assert got.code == 0
    doc = json.loads(out.getvalue())
    doc["stats"] = {k: v for k, v in doc["stats"].items() if not k.startswith("seconds")}
    return doc, [line for line in err.getvalue().splitlines() if "feature rows" in line]


def _plan(db: sqlite3.Connection, sql: str, *args: object) -> str:
    return " | ".join(r[-1] for r in db.execute("EXPLAIN QUERY PLAN " + sql, args))


def test_a_new_catalog_has_the_index_and_reads_versions_from_it(tmp_path):
    with Catalog(tmp_path / "c.db") as cat:
        files = [(i, f"/p/{i}".encode(), 1, i, 10, 0) for i in (1, 2, 3)]
        cat.db.executemany("INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0)", files)
        cat.put_features([(1, "percept", 5, b"x" * 900), (2, "percept", 4, b"y" * 900)])
        cat.put_features([(1, "meta", 5, b"{}"), (3, "emb:a", 1, b"z")])
        assert cat.feature_versions("percept") == {1: 5, 2: 4}
        assert cat.feature_versions("meta") == {1: 5}
        assert cat.feature_versions("nothing") == {}
        plan = _plan(cat.db, "SELECT file_id, version FROM features WHERE name=?", "percept")
        assert "COVERING INDEX features_name" in plan
        # a whole name is read with the table in order, as before the index
        assert cat.load_features("percept", 5) == {1: b"x" * 900}
        whole = "SELECT file_id, data FROM features NOT INDEXED WHERE name=? AND version=?"
        assert "INDEX" not in _plan(cat.db, whole, "percept", 5)
        assert "INDEX" not in _plan(cat.db, thumb_refs._ROWS)
    assert _has_index(tmp_path / "c.db")


def test_an_older_small_catalog_gains_the_index_when_opened(lib, tmp_path):
    engine = Engine(tmp_path / "c.db", tmp_path / "thumbs")
    _scan(engine, lib)
    _drop_index(tmp_path / "c.db")
    with Catalog(tmp_path / "c.db"):
        pass
    assert _has_index(tmp_path / "c.db")


def test_a_catalog_that_cannot_take_it_still_opens(lib, tmp_path):
    engine = Engine(tmp_path / "c.db", tmp_path / "thumbs")
    _scan(engine, lib)
    _drop_index(tmp_path / "c.db")
    ro = sqlite3.connect(f"file:{tmp_path / 'c.db'}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError):  # what the open meets on a read-only file
        ro.execute(catalog_schema.FEATURE_INDEX)
    catalog_schema.feature_index(ro)  # … and passes by: the reads are right without it
    ro.close()
    assert not _has_index(tmp_path / "c.db")
    with Catalog(tmp_path / "c.db") as cat:
        assert len(cat.feature_versions("percept")) == 3


def test_an_older_large_catalog_gains_it_in_its_next_scan_with_a_line(lib, tmp_path, monkeypatch):
    engine = Engine(tmp_path / "c.db", tmp_path / "thumbs")
    first, said = _scan(engine, lib)
    assert len(first["groups"]) == 1 and said == []
    _drop_index(tmp_path / "c.db")
    monkeypatch.setattr(catalog_schema, "QUIET_ROWS", 1)  # every catalog here is "large"
    with Catalog(tmp_path / "c.db"):  # the app, serve…: no opener but a scan stalls on it
        pass
    assert not _has_index(tmp_path / "c.db")
    again, said = _scan(engine, lib)
    assert _has_index(tmp_path / "c.db")
    assert said == ["lookalike: indexing the catalog's 6 feature rows (once)"]
    assert again["groups"] == first["groups"] and again["errors"] == first["errors"] == []
    third, said = _scan(engine, lib)
    assert said == [] and third == again


def test_the_scan_says_it_as_an_event(lib, tmp_path, monkeypatch):
    engine = Engine(tmp_path / "c.db", tmp_path / "thumbs")
    opts = ScanOptions(roots=(lib,), workers=1, thumbnails=False)
    assert not [e for e in engine.scan_sync(opts) if isinstance(e, Notice)]
    _drop_index(tmp_path / "c.db")
    monkeypatch.setattr(catalog_schema, "QUIET_ROWS", 1)
    notices = [e.message for e in engine.scan_sync(opts) if isinstance(e, Notice)]
    assert notices == ["indexing the catalog's 6 feature rows (once)"]
