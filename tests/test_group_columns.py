"""The stored review's columns (issue 13): written by ``finish_scan`` through the REAL engine
on real photos, filled when an older catalog is opened, refilled by a rescan."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from lookalike.engine import Engine, ScanOptions
from lookalike.engine.catalog import Catalog
from lookalike.engine.catalog_schema import SCHEMA_VERSION
from lookalike.engine.events import ScanFinished
from lookalike.engine.member_columns import capture_seconds
from lookalike.engine.records import Group

data = pytest.importorskip("skimage.data")


def make_library(root: Path) -> None:
    """Two folders of real photos: a byte copy alone (tier exact), a PNG re-encode, a resized
    copy beside a byte copy, and a photo with no copy (a hard negative: in no group)."""
    from PIL import Image

    one, two = root / "one", root / "two"
    one.mkdir(parents=True)
    two.mkdir()
    chelsea = Image.fromarray(data.chelsea()).convert("RGB")
    chelsea.save(one / "chelsea.jpg", quality=92)
    shutil.copyfile(one / "chelsea.jpg", two / "chelsea-copy.jpg")
    coffee = Image.fromarray(data.coffee()).convert("RGB")
    coffee.save(one / "coffee.jpg", quality=95)
    coffee.save(one / "coffee.png")
    astronaut = Image.fromarray(data.astronaut()).convert("RGB")
    astronaut.save(two / "astronaut.jpg", quality=92)
    astronaut.resize((300, 300)).save(two / "astronaut-small.jpg", quality=80)
    shutil.copyfile(two / "astronaut.jpg", one / "astronaut-copy.jpg")
    Image.fromarray(data.rocket()).convert("RGB").save(one / "rocket.jpg", quality=90)


def scan(engine: Engine, root: Path) -> list[Group]:
    for ev in engine.scan_sync(ScanOptions(roots=(root,), workers=1)):
        if isinstance(ev, ScanFinished):
            return list(ev.groups)
    raise AssertionError("no ScanFinished")


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("columns")
    make_library(tmp / "lib")
    db = tmp / "cat.sqlite"
    groups = scan(Engine(db, tmp / "thumbs"), tmp / "lib")
    assert len(groups) >= 2
    return tmp / "lib", db


def assert_columns_match(db: Path) -> None:
    """Every stored group's columns and ``group_files`` rows say what its JSON row says."""
    groups = Engine(db).last_groups(show_hidden=True)
    con = sqlite3.connect(db)
    cols = con.execute(
        "SELECT ord, tier, bytes_to_free, members, keep FROM groups ORDER BY ord"
    ).fetchall()
    assert [c[0] for c in cols] == [g.id - 1 for g in groups]
    for (_, tier, to_free, n, keep), g in zip(cols, groups, strict=True):
        assert (tier, to_free, n, os.fsdecode(keep)) == (
            g.tier,
            g.bytes_to_free,
            len(g.members),
            g.keep,
        )
    rows = con.execute(
        "SELECT ord, file_id, path, size, mtime_ns, width, height, format, score, flags, taken "
        "FROM group_files ORDER BY ord, rowid"
    ).fetchall()
    want = [
        (g.id - 1, m.file_id, os.fsencode(m.path), m.size, m.mtime_ns, m.width, m.height)
        + (m.format, m.score, json.dumps(list(m.flags)) if m.flags else None)
        + (capture_seconds(m.capture_time),)
        for g in groups
        for m in g.members
    ]
    assert rows == want
    indexes = {r[1] for r in con.execute("PRAGMA index_list(group_files)")}
    assert {"group_files_path", "group_files_file"} <= indexes
    con.close()


def test_finish_scan_stores_columns_of_each_group(scanned: tuple[Path, Path]) -> None:
    lib, db = scanned
    groups = Engine(db).last_groups()
    assert len({g.tier for g in groups}) >= 2, [(g.tier, len(g.members)) for g in groups]
    assert all(m.file_id is not None for g in groups for m in g.members)
    assert not any("rocket" in m.path for g in groups for m in g.members)  # no copy: no group
    assert_columns_match(db)


def _as_schema_1(src: Path, dst: Path) -> None:
    """The catalog as a schema-1 lookalike wrote it: groups without columns, no group_files."""
    shutil.copyfile(src, dst)
    con = sqlite3.connect(dst)
    con.executescript(
        "DROP TABLE group_files;"
        "CREATE TABLE g1 (scan_id INTEGER NOT NULL, ord INTEGER NOT NULL, data TEXT NOT NULL,"
        " PRIMARY KEY (scan_id, ord));"
        "INSERT INTO g1 SELECT scan_id, ord, data FROM groups;"
        "DROP TABLE groups; ALTER TABLE g1 RENAME TO groups;"
        "UPDATE meta SET value='1' WHERE key='schema';"
    )
    con.close()


def test_an_older_catalog_is_upgraded_on_open(scanned: tuple[Path, Path], tmp_path: Path) -> None:
    _, db = scanned
    old = tmp_path / "old.sqlite"
    _as_schema_1(db, old)
    con = sqlite3.connect(old)
    assert "tier" not in {r[1] for r in con.execute("PRAGMA table_info(groups)")}
    con.close()
    before = Engine(db).last_groups()
    with Catalog(old) as cat:
        version = cat.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0]
    assert int(version) == SCHEMA_VERSION == 3
    assert Engine(old).last_groups() == before
    assert_columns_match(old)
    with Catalog(old):  # opening it again changes nothing
        pass
    assert_columns_match(old)


def test_a_schema_2_catalog_gets_the_capture_time_column(scanned, tmp_path: Path) -> None:
    """Schema 2 → 3: ``group_files.taken`` added and filled from the JSON rows (EXIF's and
    the engine's spellings; none, or EXIF's zero date: NULL), the groups unchanged."""
    from dataclasses import replace

    _, db = scanned
    times = ("2021-07-14T10:00:00", "2019:01:02 03:04:05", None, "0000:00:00 00:00:00")
    groups = [
        replace(g, members=tuple(replace(m, capture_time=times[(g.id + j) % len(times)])
                                 for j, m in enumerate(g.members)))
        for g in Engine(db).last_groups()
    ]  # fmt: skip
    old = tmp_path / "v2.sqlite"
    with Catalog(old) as cat:
        cat.finish_scan(cat.start_scan(["/lib"]), {}, groups, seen=None)
    assert_columns_match(old)
    con = sqlite3.connect(old)
    con.executescript(
        "ALTER TABLE group_files DROP COLUMN taken; UPDATE meta SET value='2' WHERE key='schema';"
    )
    con.close()
    with Catalog(old) as cat:
        assert cat.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0] == "3"
        taken = [r[0] for r in cat.db.execute("SELECT taken FROM group_files ORDER BY ord, rowid")]
    assert Engine(old).last_groups() == groups
    assert_columns_match(old)
    assert sum(t is not None for t in taken) >= 2 and None in taken


def test_a_newer_catalog_is_refused_with_a_sentence(tmp_path: Path) -> None:
    from lookalike.engine.catalog_health import CatalogError

    db = tmp_path / "new.sqlite"
    with Catalog(db):
        pass
    con = sqlite3.connect(db)
    con.execute("UPDATE meta SET value='99' WHERE key='schema'")
    con.commit()
    con.close()
    with pytest.raises(CatalogError, match="newer lookalike.*--db"):
        Catalog(db)


def test_a_rescan_refills_the_columns(scanned: tuple[Path, Path], tmp_path: Path) -> None:
    lib, db = scanned
    lib2, db2 = tmp_path / "lib", tmp_path / "cat.sqlite"
    shutil.copytree(lib, lib2)
    engine = Engine(db2, tmp_path / "thumbs")
    scan(engine, lib2)
    (lib2 / "one" / "coffee.png").unlink()  # its group is gone
    shutil.copyfile(lib2 / "one" / "rocket.jpg", lib2 / "two" / "rocket-copy.jpg")  # a new one
    groups = scan(engine, lib2)
    paths = {os.path.basename(m.path) for g in groups for m in g.members}
    assert "rocket-copy.jpg" in paths and "coffee.png" not in paths
    assert_columns_match(db2)
    con = sqlite3.connect(db2)
    stored = {
        os.path.basename(os.fsdecode(r[0])) for r in con.execute("SELECT path FROM group_files")
    }
    con.close()
    assert (
        stored
        == paths
        == {os.path.basename(m.path) for g in engine.last_groups() for m in g.members}
    )
