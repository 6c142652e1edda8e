"""Thumbnails appended to a worker's pack, files made for group members only
(engine/thumb_pack.py, issue 13): the pack's round trip and its failures on real photos'
thumbnails, one pack a process, and real scans where every member of a group has its file
(the bytes the file-per-photo code wrote), a photo alone has none, and a rescan makes the
file of a photo that joined a group."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from PIL import Image, ImageOps
from skimage import data

from lookalike.engine import thumb_pack
from lookalike.engine.api import Engine
from lookalike.engine.events import ScanFinished
from lookalike.engine.features import extract as ex
from lookalike.engine.media.decode import decode_reduced
from lookalike.engine.options import ScanOptions
from lookalike.engine.thumb_remake import member_thumb

PHOTOS = {"cat": data.chelsea, "cup": data.coffee, "man": data.astronaut, "rocket": data.rocket}


def _thumbs(tmp: Path) -> dict[str, bytes]:
    """Each photo's thumbnail bytes as the file-per-photo code writes them."""
    out = {}
    for name, load in PHOTOS.items():
        src = tmp / f"{name}.jpg"
        Image.fromarray(load()).save(src, quality=90)
        decoded = decode_reduced(str(src))
        path = tmp / "ref" / f"{name}.jpg"
        assert ex.write_thumbnail(decoded.rgb, str(path), ex.source_thumbnail(decoded))
        out[name] = path.read_bytes()
    return out


@pytest.fixture
def cache(tmp_path: Path):
    yield tmp_path / "thumbs"
    thumb_pack.close_all()


def test_a_pack_gives_back_each_thumbnail_and_makes_its_file(tmp_path, cache, monkeypatch):
    thumbs = _thumbs(tmp_path)
    where = {n: str(cache / f"{i:02x}" / f"{i:016x}.jpg") for i, n in enumerate(thumbs)}
    at = {n: thumb_pack.append(where[n], b) for n, b in thumbs.items()}
    (pack,) = (cache / "packs").iterdir()
    assert pack.stat().st_size == sum(map(len, thumbs.values()))
    assert len({a[0] for a in at.values()}) == 1 and [a[2] for a in at.values()] == [
        len(b) for b in thumbs.values()
    ]
    for n, b in thumbs.items():
        assert not os.path.exists(where[n])  # no file until it is asked for
        assert thumb_pack.entry(where[n], at[n]) == b
        assert thumb_pack.materialize(where[n], at[n])
        assert Path(where[n]).read_bytes() == b
        assert member_thumb({"thumb": where[n], "thumb_at": at[n]}, str(tmp_path)) == where[n]
    # a file that is there is not read from the pack again: one stat
    monkeypatch.setattr(thumb_pack, "entry", lambda *a: pytest.fail("read the pack"))
    assert all(thumb_pack.materialize(where[n], at[n]) for n in thumbs)
    assert sorted(p.name for p in cache.rglob("*.tmp")) == []


def test_a_short_or_missing_pack_gives_no_thumbnail_and_no_error(tmp_path, cache):
    thumbs = _thumbs(tmp_path)
    where = {n: str(cache / "ab" / f"{n:0>16}.jpg") for n in thumbs}
    at = {n: thumb_pack.append(where[n], b) for n, b in thumbs.items()}
    (pack,) = (cache / "packs").iterdir()
    last = list(thumbs)[-1]
    os.truncate(pack, pack.stat().st_size - 1)  # the last entry cut short
    assert thumb_pack.entry(where[last], at[last]) is None
    assert not thumb_pack.materialize(where[last], at[last]) and not os.path.exists(where[last])
    first = list(thumbs)[0]
    assert thumb_pack.materialize(where[first], at[first])  # the entries before it are whole
    for bad in (["../x.pack", 0, 4], [pack.name, 0], None, [pack.name, "x", 4]):
        assert not thumb_pack.materialize(where[last], bad)  # not an entry: nothing made
    shutil.rmtree(cache)  # the cache cleared: the pack is gone (and open here: not read)
    assert not thumb_pack.materialize(where[first], at[first])
    gone = str(tmp_path / "gone.jpg")  # nor a photo to make it from: the path, no file
    assert member_thumb({"thumb": where[first], "thumb_at": at[first]}, gone) == where[first]
    assert not os.path.exists(where[first]) and not list(tmp_path.rglob("*.tmp"))


def test_a_cleared_cache_gets_a_new_pack_and_a_failed_write_no_entry(tmp_path, cache, monkeypatch):
    thumbs = _thumbs(tmp_path)
    path = str(cache / "00" / f"{0:016x}.jpg")
    a = thumb_pack.append(path, thumbs["cat"])
    shutil.rmtree(cache)  # while this process holds its pack open
    b = thumb_pack.append(path, thumbs["cup"])
    assert b[0] != a[0] and b[1] == 0  # a new pack, not the unlinked one
    assert thumb_pack.materialize(path, b) and Path(path).read_bytes() == thumbs["cup"]
    real = os.write
    monkeypatch.setattr(os, "write", lambda fd, d: real(fd, bytes(d)[: len(d) // 2]))
    assert thumb_pack.append(path, thumbs["man"]) is None  # a full disk: no entry
    monkeypatch.setattr(os, "write", real)
    c = thumb_pack.append(path, thumbs["rocket"])
    assert c[0] not in (a[0], b[0])  # what follows a short write starts a new pack
    assert thumb_pack.entry(path, c) == thumbs["rocket"]


def test_a_photo_that_is_its_own_thumbnail_is_not_copied_into_a_pack(tmp_path, cache):
    """A small upright JPEG's thumbnail is its own bytes less the metadata: the worker
    writes nothing, the entry names the photo, and the member's file is made from the photo
    (or from a byte copy of it) with the bytes the file-per-photo code wrote; a photo changed
    since gives no entry, and a photo too big or not a JPEG is packed as before."""
    small = tmp_path / "small.jpg"
    with Image.fromarray(data.chelsea()) as im:
        im.resize((240, 160)).save(small, quality=85, exif=Image.Exif())
    thumb = str(cache / "5a" / f"{0x5A:016x}.jpg")
    f = ex.extract_file(str(small), thumb, 250_000_000, pack=True)
    assert f.thumb == thumb and f.thumb_at[0] == thumb_pack.SOURCE
    assert not (cache / "packs").exists() and not os.path.exists(thumb)  # nothing written
    old = ex.extract_file(str(small), str(tmp_path / "old" / "small.jpg"), 250_000_000)
    want = Path(old.thumb).read_bytes()
    assert thumb_pack.entry(thumb, f.thumb_at, str(small)) == want
    assert not thumb_pack.materialize(thumb, f.thumb_at)  # no photo named: nothing to read
    copy = tmp_path / "copy.jpg"
    shutil.copy(small, copy)
    assert thumb_pack.materialize(thumb, f.thumb_at, str(copy))
    assert Path(thumb).read_bytes() == want
    os.unlink(thumb)
    with Image.fromarray(data.coffee()) as im:  # the photo changed after the scan read it
        im.resize((240, 160)).save(small, quality=85)
    assert thumb_pack.entry(thumb, f.thumb_at, str(small)) is None
    assert not thumb_pack.materialize(thumb, f.thumb_at, str(small))
    assert not thumb_pack.materialize(thumb, f.thumb_at, str(tmp_path / "gone.jpg"))
    assert not os.path.exists(thumb)
    big = tmp_path / "big.png"  # not a JPEG: its thumbnail is encoded and packed
    Image.fromarray(data.astronaut()).save(big)
    g = ex.extract_file(str(big), str(cache / "b1" / f"{0xB1:016x}.jpg"), 250_000_000, pack=True)
    assert g.thumb_at[0].endswith(thumb_pack.SUFFIX) and g.thumb_at[2] > 0


def _append_in_child(cache: str, blob: bytes, out) -> None:  # noqa: ANN001 - a Queue
    path = os.path.join(cache, "cd", f"{os.getpid():016x}.jpg")
    out.put([(path, thumb_pack.append(path, blob)) for _ in range(3)])


def test_processes_never_share_a_pack(tmp_path, cache):
    """Two processes forked from one that holds a pack open each append to a pack of their
    own (a child's inherited pack is its parent's, not its own)."""
    thumbs = _thumbs(tmp_path)
    mine = thumb_pack.append(str(cache / "cd" / f"{1:016x}.jpg"), thumbs["cat"])
    fork = multiprocessing.get_context("fork")
    out = fork.Queue()
    kids = [fork.Process(target=_append_in_child, args=(str(cache), thumbs[n], out)) for n in ("cup", "man")]  # fmt: skip
    for k in kids:
        k.start()
    got = [out.get(timeout=60) for _ in kids]
    for k in kids:
        k.join(60)
        assert k.exitcode == 0
    names = {at[0] for entries in got for _, at in entries}
    assert len(names) == 2 and mine[0] not in names
    assert len(list((cache / "packs").iterdir())) == 3
    by_size = {len(thumbs[n]): n for n in ("cup", "man")}  # the children answer in any order
    assert sorted(entries[0][1][2] for entries in got) == sorted(by_size)
    for entries in got:
        n = by_size[entries[0][1][2]]
        assert [at[1] for _, at in entries] == [0, len(thumbs[n]), 2 * len(thumbs[n])]
        assert all(thumb_pack.entry(p, at) == thumbs[n] for p, at in entries)
    assert thumb_pack.entry(str(cache / "cd" / "x.jpg"), mine) == thumbs["cat"]


# -- real scans -----------------------------------------------------------------------------
def _library(tmp: Path) -> Path:
    """Two groups (an exact copy, a half-size copy), three photos alone."""
    lib = tmp / "lib"
    lib.mkdir()
    for name, load in PHOTOS.items():
        Image.fromarray(load()).convert("RGB").save(lib / f"{name}.jpg", quality=90)
    Image.fromarray(data.camera()).save(lib / "camera.jpg", quality=90)
    shutil.copy(lib / "cat.jpg", lib / "cat-copy.jpg")
    with Image.open(lib / "cup.jpg") as im:
        im.resize((im.width // 2, im.height // 2)).save(lib / "cup-small.jpg", quality=85)
    return lib


def _scan(tmp: Path, lib: Path) -> list:
    eng = Engine(tmp / "cat.db", tmp / "thumbs")
    fin = list(eng.scan_sync(ScanOptions(roots=(lib,), workers=2)))[-1]
    assert isinstance(fin, ScanFinished) and not fin.cancelled
    return list(fin.groups)


def _files(tmp: Path) -> set[str]:
    return {str(p) for p in (tmp / "thumbs").glob("??/*.jpg")}


def _old_bytes(m, tmp: Path) -> bytes:  # noqa: ANN001 - a Member
    """What the file-per-photo code writes for this member's photo."""
    f = ex.extract_file(m.path, str(tmp / "old" / Path(m.thumb).name), 250_000_000)
    return Path(f.thumb).read_bytes()


def _members_have_their_files(groups: list, tmp: Path) -> set[str]:
    thumbs = set()
    for g in groups:
        for m, f in zip(g.members, g.to_json()["files"], strict=True):
            assert f["thumb"] == m.thumb and os.path.isfile(m.thumb)  # the JSON's path
            assert Path(m.thumb).read_bytes() == _old_bytes(m, tmp)
            thumbs.add(m.thumb)
    return thumbs


def test_a_scan_makes_files_for_group_members_only_and_a_rescan_for_new_members(tmp_path):
    lib = _library(tmp_path)
    groups = _scan(tmp_path, lib)
    names = sorted(sorted(Path(m.path).name for m in g.members) for g in groups)
    assert names == [["cat-copy.jpg", "cat.jpg"], ["cup-small.jpg", "cup.jpg"]]
    assert _files(tmp_path) == _members_have_their_files(groups, tmp_path)
    assert len(_files(tmp_path)) == 3  # the exact copies share one thumbnail; 3 alone: none
    packs = list((tmp_path / "thumbs" / "packs").iterdir())
    assert 1 <= len(packs) <= 2  # the scan's two workers' (or one, if one did every photo)
    # the photos alone: their meta says where their thumbnail is, and there is no file
    with closing(sqlite3.connect(tmp_path / "cat.db")) as db:
        rows = db.execute("SELECT data FROM features WHERE name='meta'").fetchall()
    metas = [json.loads(v) for (v,) in rows]
    alone = [m for m in metas if "thumb" in m and m["thumb"] not in _files(tmp_path)]
    assert len(alone) == 3 and all(m["thumb_at"] and not os.path.exists(m["thumb"]) for m in alone)
    # a copy of a photo that was alone, and a smaller one of another: their files are made
    shutil.copy(lib / "man.jpg", lib / "man-copy.jpg")
    with Image.open(lib / "rocket.jpg") as im:
        ImageOps.contain(im, (im.width // 2, im.height // 2)).save(lib / "rocket-small.jpg")
    again = _scan(tmp_path, lib)
    assert len(again) == 4
    assert _files(tmp_path) == _members_have_their_files(again, tmp_path)
    assert len(_files(tmp_path)) == 6


def test_a_cleared_cache_gets_its_members_thumbnails_again_at_the_next_scan(tmp_path):
    """The README lets a user delete the whole cache: the next scan decodes only the new
    photo, and every member's thumbnail comes back, the unchanged ones made from their photos
    (thumb_remake.py), with the bytes the extract writes."""
    lib = _library(tmp_path)
    groups = _scan(tmp_path, lib)
    shutil.rmtree(tmp_path / "thumbs")  # files and packs: what the README says may go
    with Image.open(lib / "man.jpg") as im:
        im.resize((im.width // 2, im.height // 2)).save(lib / "man-small.jpg", quality=85)
    again = _scan(tmp_path, lib)
    assert [sorted(m.path for m in g.members) for g in again if "man" not in g.keep] == [
        sorted(m.path for m in g.members) for g in groups
    ]
    man = {Path(m.path).name: m for g in again for m in g.members if "man" in m.path}
    assert sorted(man) == ["man-small.jpg", "man.jpg"]
    assert _files(tmp_path) == _members_have_their_files(again, tmp_path)
    assert len(_files(tmp_path)) == 5  # cat (one for the two copies), cup ×2, man ×2


def test_a_member_whose_photo_cannot_be_read_has_no_thumbnail_and_no_error(tmp_path):
    from lookalike.engine import thumb_remake

    lib = _library(tmp_path)
    thumb = str(tmp_path / "thumbs" / "ab" / "abababababababab.jpg")
    assert not thumb_remake.remake(thumb, str(lib / "gone.jpg"))
    (lib / "broken.jpg").write_bytes((lib / "cat.jpg").read_bytes()[:200])
    assert thumb_remake.member_thumb({"thumb": thumb}, str(lib / "broken.jpg")) == thumb
    assert not os.path.exists(thumb)
    assert thumb_remake.member_thumb({"thumb": None}, str(lib / "cat.jpg")) is None
    assert thumb_remake.member_thumb({"thumb": thumb}, str(lib / "cat.jpg")) == thumb
    old = ex.extract_file(str(lib / "cat.jpg"), str(tmp_path / "old" / "cat.jpg"), 250_000_000)
    assert Path(thumb).read_bytes() == Path(old.thumb).read_bytes()  # what the extract writes


def test_the_server_serves_a_members_thumbnail_made_from_its_pack(tmp_path):
    """``GET /thumbs/KEY``: a member's file (made from its pack) is served; a photo alone
    has no file (and its key is no group's: the gate refuses it), 404 either way."""
    pytest.importorskip("starlette")
    pytest.importorskip("httpx")
    from starlette.testclient import TestClient

    from lookalike.serve.app import ServeSettings, make_app

    lib = _library(tmp_path)
    groups = _scan(tmp_path, lib)
    with closing(sqlite3.connect(tmp_path / "cat.db")) as db:
        rows = db.execute("SELECT data FROM features WHERE name='meta'").fetchall()
    members = {m.thumb for g in groups for m in g.members}
    alone = [json.loads(v)["thumb"] for (v,) in rows if json.loads(v)["thumb"] not in members]
    settings = ServeSettings(roots=(str(lib.resolve()),), catalog=tmp_path / "cat.db",
                             thumb_dir=tmp_path / "thumbs", state_dir=tmp_path / "state", workers=1)  # fmt: skip
    with TestClient(make_app(settings), base_url="http://127.0.0.1") as c:
        files = [f for g in c.get("/review/groups").json()["groups"] for f in g["files"]]
        assert len(files) == 4
        for f in files:
            got = c.get(f["thumb_url"])
            assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
            assert got.content == Path(f["thumb"]).read_bytes()
        assert len(alone) == 3
        for thumb in alone:
            assert c.get(f"/thumbs/{Path(thumb).stem}").status_code == 404
