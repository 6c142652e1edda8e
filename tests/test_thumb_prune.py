"""``lookalike cache prune`` (engine/thumb_prune.py, thumb_refs.py, thumb_registry.py) on real
scans of skimage photos: two catalogs share one cache; photos changed and deleted between
scans; a prune removes only what no catalog names (a deleted catalog protects nothing), every
member keeps its thumbnail and every pack entry left still reads; a dry run removes nothing;
a running scan (its lock, its live pack, a recent write) is never pruned under; --compact
makes the members' files of a sparse pack before removing it."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from skimage import data

from lookalike.engine import thumb_pack, thumb_registry
from lookalike.engine.api import Engine
from lookalike.engine.events import Notice, ScanFinished
from lookalike.engine.options import ScanOptions
from lookalike.engine.scanlock import ScanLock
from lookalike.engine.thumb_prune import REDUNDANT, NoCatalog, PruneBusy, prune
from lookalike.engine.thumb_refs import CatalogUnreadable, tail

PHOTOS = {"cat": data.chelsea, "cup": data.coffee, "man": data.astronaut, "rocket": data.rocket}


@pytest.fixture(autouse=True)
def _close_packs():
    yield
    thumb_pack.close_all()


def _save(lib: Path, name: str, pixels, half: bool = False, q: int = 90) -> None:  # noqa: ANN001
    with Image.fromarray(pixels).convert("RGB") as im:
        (im.resize((im.width // 2, im.height // 2)) if half else im).save(lib / name, quality=q)


def _library(tmp: Path, name: str, photos: dict) -> Path:
    """Each photo, and a half-size copy of it (one group a photo)."""
    lib = tmp / name
    lib.mkdir()
    for n, load in photos.items():
        _save(lib, f"{n}.jpg", load())
        _save(lib, f"{n}-small.jpg", load(), half=True)
    return lib


def _scan(db: Path, thumbs: Path, lib: Path, workers: int = 2) -> list:
    fin = list(Engine(db, thumbs).scan_sync(ScanOptions(roots=(lib,), workers=workers)))[-1]
    assert isinstance(fin, ScanFinished) and not fin.cancelled
    thumb_pack.close_all()  # this process's readers: a removed pack is not held open
    return list(fin.groups)


def _cache_files(thumbs: Path) -> set[str]:
    return {tail(str(p)) for p in thumbs.glob("??/*") if p.is_file()}


def _metas(db: Path) -> list[dict]:
    with closing(sqlite3.connect(db)) as c:
        rows = c.execute("SELECT data FROM features WHERE name='meta'").fetchall()
    return [json.loads(v) for (v,) in rows]


def _members_and_entries_whole(db: Path, thumbs: Path) -> None:
    """What the app and the JSON read after a prune: every stored member's thumbnail file is
    there (a JPEG), and every packed entry a meta row names still reads whole."""
    groups = Engine(db, thumbs).last_groups()
    assert groups
    for g in groups:
        for m in g.members:
            with Image.open(m.thumb) as im:
                assert im.format == "JPEG"
    for meta in _metas(db):
        at = meta.get("thumb_at")
        if at and at[0] != thumb_pack.SOURCE:
            assert thumb_pack.entry(meta["thumb"], at)[:2] == b"\xff\xd8"


def _two_catalogs(tmp: Path) -> tuple[Path, Path, Path, set[str]]:
    """a.db and b.db share ``thumbs``; then in a's library a member is deleted and another
    changed, and a is scanned again: the files of both old photos are named by no catalog."""
    thumbs = tmp / "thumbs"
    lib_a = _library(tmp, "a", {k: PHOTOS[k] for k in ("cat", "cup", "man")})
    lib_b = _library(tmp, "b", {"rocket": PHOTOS["rocket"], "camera": data.camera})
    assert len(_scan(tmp / "a.db", thumbs, lib_a)) == 3
    assert len(_scan(tmp / "b.db", thumbs, lib_b)) == 2
    before = {Path(m["thumb"]).name for m in _metas(tmp / "a.db")}
    (lib_a / "cup-small.jpg").unlink()
    _save(lib_a, "man-small.jpg", data.astronaut(), half=True, q=75)  # re-saved: a new stat
    assert len(_scan(tmp / "a.db", thumbs, lib_a)) == 2
    after = {Path(m["thumb"]).name for m in _metas(tmp / "a.db")}
    dead = {n for n in _cache_files(thumbs) if Path(n).name in before - after}
    assert len(before - after) == 2 and len(dead) == 2  # both were members: both had files
    return thumbs, tmp / "a.db", tmp / "b.db", dead


def test_prune_removes_only_what_no_catalog_names(tmp_path):
    thumbs, a, b, dead = _two_catalogs(tmp_path)
    files, packs = _cache_files(thumbs), set(os.listdir(thumbs / "packs"))
    dry = prune(thumbs, dry_run=True, grace=0)
    assert sorted(dry.catalogs) == sorted([str(a), str(b)])
    assert _cache_files(thumbs) == files and set(os.listdir(thumbs / "packs")) == packs
    assert dry.removed == {"file no catalog uses": [2, dry.removed["file no catalog uses"][1]]}
    out = prune(thumbs, grace=0)
    assert out.removed == dry.removed and out.freed == dry.freed > 0
    assert _cache_files(thumbs) == files - dead
    assert set(os.listdir(thumbs / "packs")) == packs  # every pack still has named entries
    _members_and_entries_whole(a, thumbs)
    _members_and_entries_whole(b, thumbs)
    again = prune(thumbs, grace=0)  # nothing left to remove
    assert again.removed == {} and again.kept == out.kept


def test_a_deleted_catalog_protects_nothing_and_is_forgotten(tmp_path):
    thumbs, a, b, dead = _two_catalogs(tmp_path)
    b_files = {tail(m.thumb) for g in Engine(b, thumbs).last_groups() for m in g.members}
    b_packs = {m["thumb_at"][0] for m in _metas(b) if m.get("thumb_at", ["photo"])[0] != "photo"}
    a_packs = {m["thumb_at"][0] for m in _metas(a) if m.get("thumb_at", ["photo"])[0] != "photo"}
    assert b_packs and not b_packs & a_packs  # b's scan wrote packs of its own
    b.unlink()
    out = prune(thumbs, grace=0)
    assert out.catalogs == [str(a)] and out.forgotten == [str(b)]
    assert [n for n, _ in thumb_registry.registered(thumbs)] == [thumb_registry.entry_name(a)]
    assert not _cache_files(thumbs) & (dead | b_files)
    assert set(os.listdir(thumbs / "packs")) == a_packs
    assert out.removed["pack no catalog uses"][0] == len(b_packs)
    _members_and_entries_whole(a, thumbs)


def test_an_unreadable_or_no_known_catalog_removes_nothing(tmp_path):
    thumbs, a, b, _ = _two_catalogs(tmp_path)
    files = _cache_files(thumbs)
    b.write_bytes(b"not a catalog")  # an unreadable catalog: nobody knows what it names
    with pytest.raises(CatalogUnreadable, match=thumb_registry.entry_name(b)):
        prune(thumbs, grace=0)
    assert _cache_files(thumbs) == files
    b.unlink()
    _scan(b, thumbs, tmp_path / "b")
    shutil.rmtree(thumbs / thumb_registry.CATALOGS)  # as a cache made before the registry
    with pytest.raises(NoCatalog):
        prune(thumbs, grace=0)
    assert _cache_files(thumbs) == files
    out = prune(thumbs, named=[a, b], grace=0)  # named: read, and recorded for next time
    assert out.removed["file no catalog uses"][0] == 2 and out.removed["pack no catalog uses"]
    assert {p for _, p in thumb_registry.registered(thumbs)} == {a, b}


def test_a_running_scan_is_never_pruned_under(tmp_path):
    thumbs, a, _, dead = _two_catalogs(tmp_path)
    files = _cache_files(thumbs)
    with thumb_registry.CacheLock(thumbs) as scanning:  # a scan of this cache
        assert scanning.try_acquire(exclusive=False)
        with pytest.raises(PruneBusy, match="a scan is using the thumbnail cache"):
            prune(thumbs, grace=0)
    with ScanLock(a) as old:  # a scan of an older lookalike: only the catalog's lock
        assert old.try_acquire()
        with pytest.raises(PruneBusy, match=f"a scan is running on {a}"):
            prune(thumbs, grace=0)
    assert _cache_files(thumbs) == files
    # a pack no row names yet: its writer runs, or it was written in the last minutes
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = thumbs / "packs" / f"{sleeper.pid}-0123456789ab.pack"
        recent = thumbs / "packs" / "999999999-0123456789ab.pack"
        for p in (live, recent):
            p.write_bytes(b"\xff\xd8" * 100)
        os.utime(live, (1, 1))
        out = prune(thumbs, grace=600)
        assert live.exists() and recent.exists()
        assert out.kept["pack whose writer (pid) still runs"][0] == 1
        assert out.kept["pack changed in the last minutes"][0] == 1
        assert _cache_files(thumbs) == files  # the dead files are new too: kept
        assert out.kept["changed in the last minutes"][0] == len(dead)
    finally:
        sleeper.kill()
        sleeper.wait()
    os.utime(recent, (1, 1))
    prune(thumbs, grace=0)
    assert not live.exists() and not recent.exists()


def test_a_scan_that_starts_during_a_prune_waits_for_it(tmp_path):
    lib = _library(tmp_path, "lib", {"cat": PHOTOS["cat"]})
    thumbs = tmp_path / "thumbs"
    events: list = []
    with thumb_registry.CacheLock(thumbs) as pruning:
        assert pruning.try_acquire(exclusive=True)
        t = threading.Thread(
            target=lambda: events.extend(
                Engine(tmp_path / "c.db", thumbs).scan_sync(ScanOptions(roots=(lib,), workers=1))
            )
        )
        t.start()
        t.join(3)
        assert t.is_alive() and len(events) == 1 and isinstance(events[0], Notice)
        assert "being pruned" in events[0].message and not (tmp_path / "c.db").exists()
    t.join(120)
    assert isinstance(events[-1], ScanFinished) and len(events[-1].groups) == 1
    assert [p for _, p in thumb_registry.registered(thumbs)] == [tmp_path / "c.db"]


def test_compact_makes_the_members_files_before_a_sparse_pack_goes(tmp_path):
    thumbs, db = tmp_path / "thumbs", tmp_path / "c.db"
    lib = _library(tmp_path, "lib", {"cup": PHOTOS["cup"]})  # 600×400: packed; its half: not
    for n, load in (("man", data.astronaut), ("rocket", data.rocket), ("camera", data.camera)):
        with Image.fromarray(load()).convert("RGB") as im:  # larger: packed; alone, no file
            im.resize((im.width * 2, im.height * 2)).save(lib / f"{n}.jpg", quality=90)
    groups = _scan(db, thumbs, lib, workers=1)
    (pack,) = os.listdir(thumbs / "packs")
    packed = {m["thumb"] for m in _metas(db) if m["thumb_at"][0] == pack}
    members = {m.thumb: Path(m.thumb).read_bytes() for g in groups for m in g.members}
    assert len(packed) == 4 and len(members) == 2 and len(set(members) & packed) == 1
    for n in ("man", "rocket", "camera"):
        (lib / f"{n}.jpg").unlink()
    _scan(db, thumbs, lib, workers=1)
    kept = prune(thumbs, grace=0)
    assert [p["fate"] for p in kept.packs] == ["sparse pack (see --compact)"]
    assert 0 < kept.packs[0]["live"] < kept.packs[0]["bytes"] / 2
    for t in set(members) & packed:
        os.unlink(t)  # a member's file lost (the cache partly cleared): made from the pack
    out = prune(thumbs, compact=True, grace=0)
    assert out.packs == [{**kept.packs[0], "fate": "sparse pack (--compact)"}]
    assert not (thumbs / "packs" / pack).exists() and out.made == 1 and out.orphaned == 0
    assert {t: Path(t).read_bytes() for t in members} == members
    again = _scan(db, thumbs, lib, workers=1)  # the entry is gone: nothing else is missed
    assert {m.thumb: Path(m.thumb).read_bytes() for g in again for m in g.members} == members


def test_compact_removes_the_files_of_photos_no_longer_in_a_group(tmp_path):
    """A photo left alone (its copies deleted) keeps its file after a prune (its row names
    it); with --compact the file goes while its pack entry stays, and comes back from it,
    the same bytes, when the photo joins a group again."""
    thumbs, db = tmp_path / "thumbs", tmp_path / "c.db"
    lib = _library(tmp_path, "lib", {"cup": PHOTOS["cup"], "rocket": PHOTOS["rocket"]})
    groups = _scan(db, thumbs, lib)
    files = {Path(m.path).name: m.thumb for g in groups for m in g.members}
    old = {n: Path(t).read_bytes() for n, t in files.items()}
    packed = {m["thumb"] for m in _metas(db) if m["thumb_at"][0] != thumb_pack.SOURCE}
    assert {files["cup.jpg"], files["rocket.jpg"]} <= packed  # 600×400, 640×427: packed
    for n in ("cup-small.jpg", "rocket-small.jpg"):
        (lib / n).unlink()
    assert _scan(db, thumbs, lib) == []
    plain = prune(thumbs, grace=0)
    assert plain.removed == {"file no catalog uses": [2, plain.freed]}
    assert os.path.exists(files["cup.jpg"]) and os.path.exists(files["rocket.jpg"])
    out = prune(thumbs, compact=True, grace=0)
    assert out.removed == {REDUNDANT: [2, len(old["cup.jpg"]) + len(old["rocket.jpg"])]}
    assert not os.path.exists(files["cup.jpg"]) and not os.path.exists(files["rocket.jpg"])
    assert {p["fate"] for p in out.packs} == {"pack in use"}
    shutil.copy(lib / "rocket.jpg", lib / "rocket-copy.jpg")
    (g,) = _scan(db, thumbs, lib)
    assert {Path(m.thumb).read_bytes() for m in g.members} == {old["rocket.jpg"]}


def test_the_command_reports_and_refuses(tmp_path, monkeypatch):
    from lookalike import config
    from lookalike.cli import main

    thumbs = config.thumbnail_dir()
    lib = _library(tmp_path, "lib", {"cat": PHOTOS["cat"]})
    db = tmp_path / "c.db"
    _scan(db, thumbs, lib)
    (lib / "cat-small.jpg").unlink()
    _scan(db, thumbs, lib)
    run = CliRunner().invoke
    r = run(main, ["cache", "prune", "--min-age", "0", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert f"catalog {db}" in r.output and "would remove 1 × file no catalog uses" in r.output
    r = run(main, ["cache", "prune", "--min-age", "0", "--format", "json"])
    out = json.loads(r.output)
    assert r.exit_code == 0 and out["removed"]["file no catalog uses"][0] == 1
    assert out["freed"] == out["removed"]["file no catalog uses"][1] > 0
    with ScanLock(db) as busy:
        assert busy.try_acquire()
        r = run(main, ["cache", "prune"])
    assert r.exit_code == 5 and "a scan is running on" in r.output
    shutil.rmtree(thumbs / thumb_registry.CATALOGS)
    r = run(main, ["cache", "prune"])
    assert r.exit_code == 3 and "--catalog DB" in r.output


def test_videos_strips_old_versions_files_and_temporary_files(tmp_path):
    """A video's thumbnail and strip (vmeta) are kept while its row lasts and go with it; a
    file only a stored group names is kept; an older version's ``.webp`` goes when nothing
    names it; a temporary file goes when its writer is gone; a name it does not know stays."""
    thumbs, db = tmp_path / "thumbs", tmp_path / "c.db"
    lib = _library(tmp_path, "lib", {"cat": PHOTOS["cat"]})
    video = Path(__file__).parent / "data" / "video" / "bikes.mp4"
    shutil.copy(video, lib / "bikes.mp4")
    shutil.copy(video, lib / "bikes-copy.mp4")
    groups = _scan(db, thumbs, lib)
    clips = {Path(m.path).name: m for g in groups for m in g.members if m.duration}
    assert sorted(clips) == ["bikes-copy.mp4", "bikes.mp4"]
    vfiles = {tail(f) for m in clips.values() for f in (m.thumb, m.strip["path"])}
    assert len(vfiles) == 2  # byte copies: one decode, one thumbnail and strip
    with closing(sqlite3.connect(db)) as c:  # the photo's rows gone, its group still stored
        c.execute("DELETE FROM features WHERE name='meta'")
        c.commit()
    photos = {tail(m.thumb) for g in groups for m in g.members if not m.duration}
    key = next(iter(photos)).split("/")[0]
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    sleeper.kill()
    sleeper.wait()  # a pid that no longer runs
    extra = {
        f"{key}/{'a' * 16}.webp": "removed",  # an older version's thumbnail nothing names
        f"{key}/{'b' * 16}.jpg.{sleeper.pid}-7.tmp": "removed",  # its writer is gone
        f"{key}/{'c' * 16}.jpg.{os.getpid()}-7.tmp": "kept",  # its writer runs
        f"{key}/notes.txt": "kept",  # not a cache file
    }
    for name in extra:
        (thumbs / name).write_bytes(b"x" * 10)
        os.utime(thumbs / name, (1, 1))
    out = prune(thumbs, grace=0)
    left = _cache_files(thumbs)
    assert photos | vfiles <= left
    assert {n for n, fate in extra.items() if fate == "kept"} <= left
    assert not {n for n, fate in extra.items() if fate == "removed"} & left
    assert out.kept["not a cache file"][0] == 1 and out.removed["file no catalog uses"][0] == 1
    (lib / "bikes-copy.mp4").unlink()  # the other one changed: decoded again, files of its own
    os.utime(lib / "bikes.mp4", (2_000_000_000, 2_000_000_000))
    _scan(db, thumbs, lib)
    with closing(sqlite3.connect(db)) as c:
        (row,) = c.execute("SELECT data FROM features WHERE name='vmeta'").fetchall()
    now = {tail(json.loads(row[0])["thumb"]), tail(json.loads(row[0])["strip"]["path"])}
    assert now != vfiles and now <= _cache_files(thumbs)
    prune(thumbs, grace=0)
    assert now <= _cache_files(thumbs) and not vfiles & _cache_files(thumbs)


def test_a_catalog_and_photos_with_non_utf8_names_are_read(tmp_path):
    """A catalog whose path is not UTF-8 (and photos named so) is recorded, read and
    protects its files: the prune removes only the deleted member's thumbnail."""
    odd = Path(os.fsdecode(b"caf\xe9-\xff"))
    (tmp_path / odd).mkdir()
    db, thumbs = tmp_path / odd / "cat.db", tmp_path / "thumbs"
    lib = tmp_path / "lib"
    lib.mkdir()
    _save(lib, os.fsdecode(b"chat-\xe9.jpg"), data.chelsea())
    _save(lib, os.fsdecode(b"chat-\xe9-small.jpg"), data.chelsea(), half=True)
    _save(lib, "cup.jpg", data.coffee())
    _save(lib, "cup-small.jpg", data.coffee(), half=True)
    assert len(_scan(db, thumbs, lib)) == 2
    before = _cache_files(thumbs)
    (lib / "cup-small.jpg").unlink()
    assert len(_scan(db, thumbs, lib)) == 1
    out = prune(thumbs, grace=0)
    assert out.catalogs == [str(db)]
    assert out.removed["file no catalog uses"][0] == 1
    assert len(_cache_files(thumbs)) == len(before) - 1
    _members_and_entries_whole(db, thumbs)


def test_odd_rows_name_nothing_and_a_row_that_is_not_json_stops_it(tmp_path):
    """The rows are read by SQLite's JSON functions (thumb_refs._ROWS): a row of another shape
    (a list, a number where a path goes, an entry of two parts, a strip that is a string)
    names nothing it should not and stops nothing; a row that is not JSON at all makes the
    catalog unreadable, and nothing is removed."""
    thumbs, a, _, dead = _two_catalogs(tmp_path)
    odd = ['[1, 2]', '{"thumb": 7, "strip": "x/y.strip.webp"}', '"text"',
           '{"thumb": "/elsewhere/ab/0123456789abcdef.jpg", "thumb_at": ["p.pack", 0]}']  # fmt: skip
    with closing(sqlite3.connect(a)) as c, c:
        for i, row in enumerate(odd):
            c.execute("INSERT INTO features (file_id, name, version, data) VALUES (?, 'meta', 1, ?)",
                      (-1 - i, row.encode()))  # fmt: skip
    out = prune(thumbs, dry_run=True, grace=0)
    assert out.removed["file no catalog uses"][0] == 2  # the dead two, as without those rows
    with closing(sqlite3.connect(a)) as c, c:
        c.execute("UPDATE features SET data = ? WHERE file_id = -1", (b"{not json",))
    files = _cache_files(thumbs)
    with pytest.raises(CatalogUnreadable, match="malformed JSON"):
        prune(thumbs, grace=0)
    assert _cache_files(thumbs) == files and dead <= files
