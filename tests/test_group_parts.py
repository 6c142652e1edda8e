"""A rescan with a few changes regroups only what they touch (engine/group_parts.py): after
any sequence of adds, edits, removals, renames, exact copies and "not a duplicate" marks on
real photos (with their re-saves, crops and hard negatives: other parts of the same photo),
the rescan's output is byte for byte a full regroup's on a copy of the catalog — also on the
large-collection path (the inverted-file search, forced here by a tiny ``index.FLAT_LIMIT``)
while the stored grouping found every pair; when it missed some, the rescan keeps what it
found away from the changes and is exact where they are; photos beside videos regroup by
parts too; and each reason to regroup everything, alone, makes the rescan regroup
everything."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from skimage import data

from lookalike.engine import candidates, group_parts, index
from lookalike.engine.api import Engine
from lookalike.engine.catalog import Catalog
from lookalike.engine.options import ScanOptions
from lookalike.engine.stages import rank as rank_stage
from lookalike.headless.runner import run_scan

PHOTOS = (data.chelsea, data.coffee, data.astronaut, data.rocket, data.immunohistochemistry)


def _photo(n: int, how: int) -> Image.Image:
    """Photo ``n`` (small), as-is or derived: a half-size re-save, a 6 % crop, a colour
    shift, or a hard negative (its left half: the same scene, other content)."""
    img = Image.fromarray(PHOTOS[n % len(PHOTOS)]()).resize((240, 180))
    w, h = img.size
    if how == 1:
        return img.resize((w // 2, h // 2))
    if how == 2:
        return img.crop((w // 16, h // 16, w - w // 16, h - h // 16))
    if how == 3:
        arr = np.asarray(img).astype(np.int16) + np.array([18, -10, 6], dtype=np.int16)
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if how == 4:
        return img.crop((0, 0, w // 2, h))
    return img


def _write(path: Path, n: int, how: int) -> None:
    _photo(n, how).save(path, quality=90)


def _start(lib: Path) -> None:
    for n in range(4):
        _write(lib / f"p{n}.jpg", n, 0)
        _write(lib / f"p{n}-s.jpg", n, 1 + n % 3)
    _write(lib / "q0.jpg", 0, 4)
    shutil.copy(lib / "p1.jpg", lib / "r1.jpg")


def _opts(lib: Path, **kw) -> ScanOptions:
    return ScanOptions(**{"roots": (lib,), "workers": 1, "thumbnails": False, **kw})


def _scan(engine: Engine, options: ScanOptions) -> dict:
    out = io.StringIO()
    got = run_scan(engine, options, "json", out, None, progress="none", err=io.StringIO())
    assert got.code in (0, 1), got.code
    doc = json.loads(out.getvalue())
    doc["stats"]["seconds"] = 0
    doc["stats"]["seconds_by_stage"] = dict.fromkeys(doc["stats"]["seconds_by_stage"], 0)
    return doc


@pytest.fixture
def plans(monkeypatch: pytest.MonkeyPatch) -> list:
    """Each scan's plan: None (regrouped all) or the number of items it regrouped."""
    seen: list = []
    real = group_parts.plan

    def watched(*a, **kw):
        got = real(*a, **kw)
        seen.append(None if got[0] is None else len(got[0].redo))
        return got

    monkeypatch.setattr(group_parts, "plan", watched)
    return seen


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list:
    """The stored groups rank sent as they were (by ord) instead of ranking them."""
    seen: list = []
    real = rank_stage.stored_group

    def watched(cat, ord_):
        seen.append(ord_)
        return real(cat, ord_)

    monkeypatch.setattr(rank_stage, "stored_group", watched)
    return seen


@pytest.fixture
def searches(monkeypatch: pytest.MonkeyPatch) -> list:
    """The kind of each grouping's candidate search ("flat" or "ivf")."""
    seen: list = []
    real = candidates.HashIndex

    def watched(*a, **kw):
        got = real(*a, **kw)
        seen.append(got.kind)
        return got

    monkeypatch.setattr(candidates, "HashIndex", watched)
    return seen


def _large(monkeypatch: pytest.MonkeyPatch, nprobe: int) -> None:
    """A tiny library above the flat search's limit: full regroups search the inverted-file
    index (one cell a code), probing ``nprobe`` cells a query (all: it finds every pair)."""
    monkeypatch.setattr(index, "FLAT_LIMIT", 3)
    monkeypatch.setattr(index, "NPROBE", nprobe)


def _copy_catalog(src: Path, dst: Path) -> None:
    """The catalog as a full regroup would find it: copied, records of the last grouping
    dropped."""
    with Catalog(src) as cat:
        cat.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(src, dst)
    with Catalog(dst) as cat, cat.transaction():
        cat.db.execute("DELETE FROM meta WHERE key IN ('groups_parts', 'groups_reuse')")


def _apply(op: tuple[int, int, int, int], lib: Path, engine: Engine) -> None:
    """One change: (kind, a, b, c) read modulo what the library holds."""
    kind, a, b, c = op
    files = sorted(p.name for p in lib.iterdir())
    one, other = lib / files[a % len(files)], lib / files[b % len(files)]
    fresh = lib / f"{'aprx'[c % 4]}{a}{b}.jpg"  # names before and after the others
    if kind == 0 and not fresh.exists():
        _write(fresh, b, c % 5)
    elif kind == 1:  # an edit: other content, a new size and time
        _write(one, b, c % 5)
    elif kind == 2 and len(files) > 3:
        one.unlink()
    elif kind == 3 and not fresh.exists():
        one.rename(fresh)
    elif kind == 4 and not fresh.exists():
        shutil.copy(one, fresh)  # may take over as its cluster's representative
    elif kind == 5 and one != other:
        engine.mark_not_duplicate([str(one), str(other)])
    elif kind == 6 and one != other:
        engine.forget_not_duplicate([str(one), str(other)])


OPS = st.tuples(st.integers(0, 6), st.integers(0, 40), st.integers(0, 40), st.integers(0, 40))


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(st.lists(OPS, min_size=1, max_size=3), min_size=1, max_size=2))
@pytest.mark.parametrize("size", ["small", "large"])
def test_a_rescan_with_changes_gives_a_full_regroups_groups(
    tmp_path_factory, plans, searches, monkeypatch, size, steps
):
    """Regrouped by parts under the flat search's limit and above it (the inverted-file
    path, every cell probed so that the full regroups it is compared with find every pair);
    the part is searched with the flat index either way."""
    monkeypatch.setattr(group_parts, "MOST", 1.0)  # a small library: a few ops change most
    monkeypatch.setattr(group_parts, "SHARE", float("inf"))  # and its part may be all of it
    if size == "large":
        _large(monkeypatch, nprobe=10**6)
    root = tmp_path_factory.mktemp("parts")
    lib = root / "lib"
    lib.mkdir()
    _start(lib)
    engine = Engine(root / "c.db", root / "thumbs")
    _scan(engine, _opts(lib))
    for n, changes in enumerate(steps):
        for op in changes:
            _apply(op, lib, engine)
        _copy_catalog(root / "c.db", root / f"ref{n}.db")
        plans.clear()
        searches.clear()
        got = _scan(engine, _opts(lib))
        # no plan: nothing changed, the stored groups were reused whole (group_reuse.py)
        assert plans != [None], "the rescan regrouped all"
        assert set(searches) <= {"flat"}
        full = _scan(Engine(root / f"ref{n}.db", root / "thumbs"), _opts(lib))
        assert plans[-1] is None
        assert searches[-1] == ("ivf" if size == "large" else "flat")
        assert got == full


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    (tmp_path / "lib").mkdir()
    _start(tmp_path / "lib")
    return tmp_path / "lib"


def test_an_added_copy_regroups_only_its_photo(lib, tmp_path, plans):
    engine = Engine(tmp_path / "c.db", tmp_path / "thumbs")
    first = _scan(engine, _opts(lib))
    _write(lib / "p2-b.jpg", 2, 1)  # joins p2's group; p0, p1, p3's groups are kept
    got = _scan(engine, _opts(lib))
    assert plans == [None, 1 + 2]  # the new file and p2's pair
    same = [g for g in got["groups"] if any(f["path"].endswith("p2-b.jpg") for f in g["files"])]
    assert len(same) == 1 and len(same[0]["files"]) == 3
    assert len(got["groups"]) == len(first["groups"])


def test_a_mark_alone_splits_its_group_only(lib, tmp_path, plans):
    engine = Engine(tmp_path / "c.db", tmp_path / "thumbs")
    first = _scan(engine, _opts(lib))
    engine.mark_not_duplicate([str(lib / "p2.jpg"), str(lib / "p2-s.jpg")])
    ref = tmp_path / "ref.db"
    _copy_catalog(tmp_path / "c.db", ref)
    got = _scan(engine, _opts(lib))
    assert plans == [None, 2]
    assert len(got["groups"]) == len(first["groups"]) - 1
    assert got == _scan(Engine(ref, tmp_path / "thumbs"), _opts(lib))


def _forget(cat_path: Path) -> None:
    with Catalog(cat_path) as cat, cat.transaction():
        cat.db.execute("DELETE FROM meta WHERE key = 'groups_parts'")


def test_a_regroup_of_all_sends_the_unchanged_groups_as_stored(
    lib, tmp_path, plans, sent, monkeypatch
):
    """Regrouped all (here: the part would be over its limit), on the large path: rank
    sends each group it forms again of unchanged files as stored."""
    _large(monkeypatch, nprobe=10**6)
    monkeypatch.setattr(group_parts, "SHARE", 0.0)
    engine = Engine(tmp_path / "c.db", tmp_path / "thumbs")
    first = _scan(engine, _opts(lib))
    (lib / "p3-s.jpg").unlink()  # p3's group goes; p0, p1 (with its copy), p2's are as stored
    _write(lib / "p2-b.jpg", 2, 1)  # joins p2's group: ranked again
    ref = tmp_path / "ref.db"
    _copy_catalog(tmp_path / "c.db", ref)
    got = _scan(engine, _opts(lib))
    assert plans == [None, None] and len(sent) == 2
    assert len(got["groups"]) == len(first["groups"]) - 1
    assert got == _scan(Engine(ref, tmp_path / "thumbs"), _opts(lib))
    assert len(sent) == 2  # the reference ranked all


def _files(doc: dict) -> set[tuple[str, tuple[str, ...]]]:
    """Each group as (keeper, files), by file name."""
    return {
        (Path(g["keep"]).name, tuple(Path(f["path"]).name for f in g["files"]))
        for g in doc["groups"]
    }


def test_after_an_approximate_grouping_the_change_is_searched_exactly(
    lib, tmp_path, plans, monkeypatch
):
    """The stored grouping's search missed pairs (one cell probed: it finds none here):
    they stay missed away from the change, while the new copy's part — its pairs found by
    the exact search against every stored code, its photo's files and their components —
    is what a full regroup with an exact search makes of it."""
    _large(monkeypatch, nprobe=1)
    engine = Engine(tmp_path / "c.db", tmp_path / "thumbs")
    first = _scan(engine, _opts(lib))
    assert _files(first) == {("p1.jpg", ("p1.jpg", "r1.jpg"))}  # byte copies: exact stage
    _write(lib / "p2-b.jpg", 2, 1)
    ref = tmp_path / "ref.db"
    _copy_catalog(tmp_path / "c.db", ref)
    got = _scan(engine, _opts(lib))
    assert plans == [None, 3]
    monkeypatch.undo()  # the reference: a full regroup with the flat (exact) search
    full = _files(_scan(Engine(ref, tmp_path / "thumbs"), _opts(lib)))
    p2 = {g for g in full if "p2.jpg" in g[1]}
    assert len(p2) == 1 and len(next(iter(p2))[1]) == 3  # p2, its re-save, the new copy
    assert _files(got) == _files(first) | p2
    assert len(full) == 4  # p0's and p3's pairs too


def _break_review(cat_path: Path) -> None:
    with Catalog(cat_path) as cat, cat.transaction():
        cat.db.execute("DELETE FROM groups WHERE ord = 0")


def _orphan_member(cat_path: Path) -> None:
    with Catalog(cat_path) as cat, cat.transaction():
        (data_,) = cat.db.execute("SELECT data FROM groups WHERE ord = 0").fetchone()
        d = json.loads(data_)
        d["files"][0]["file_id"] = None
        cat.db.execute("UPDATE groups SET data=? WHERE ord = 0", (json.dumps(d),))


FALLBACKS = {
    "no record": lambda cat, mp: _forget(cat),
    "other options": lambda cat, mp: mp.setenv("LOOKALIKE_DISK_COLUMNS", "1"),
    "a part dearer than a full regroup": lambda cat, mp: mp.setattr(group_parts, "SHARE", 0.0),
    "review changed": lambda cat, mp: _break_review(cat),
    "most files changed": lambda cat, mp: [
        os.utime(p, ns=(10**18, 10**18)) for p in (cat.parent / "lib").iterdir()
    ],
    "a member with no id": lambda cat, mp: _orphan_member(cat),
}


@pytest.mark.parametrize("name", sorted(FALLBACKS))
def test_each_reason_to_regroup_all_regroups_all(lib, tmp_path, plans, monkeypatch, name):
    engine = Engine(tmp_path / "c.db", tmp_path / "thumbs")
    _scan(engine, _opts(lib))
    _write(lib / "p2-b.jpg", 2, 1)
    ref = tmp_path / "ref.db"
    _copy_catalog(tmp_path / "c.db", ref)
    FALLBACKS[name](tmp_path / "c.db", monkeypatch)
    got = _scan(engine, _opts(lib))
    assert plans[-1] is None, f"{name}: regrouped by parts"
    assert got == _scan(Engine(ref, tmp_path / "thumbs"), _opts(lib))


def test_photos_beside_videos_regroup_by_parts(lib, tmp_path, plans):
    """Videos are matched all together and their groups built again every scan; the photos
    beside them still regroup by parts, and the output is a full regroup's either way: a
    photo added, then a video."""
    src = Path(__file__).parent / "data" / "video"
    for name in ("carphone_pristine.mp4", "carphone_distorted.mp4"):
        shutil.copy(src / name, lib / name)
    engine = Engine(tmp_path / "c.db", tmp_path / "thumbs")
    first = _scan(engine, _opts(lib))
    video_groups = [g for g in first["groups"] if g["files"][0]["path"].endswith(".mp4")]
    assert video_groups, "the two carphone encodes make a group"
    for n, change in enumerate(("photo", "video")):
        if change == "photo":
            _write(lib / "p2-b.jpg", 2, 1)
        else:
            shutil.copy(src / "carphone_distorted.mp4", lib / "carphone-copy.mp4")
        ref = tmp_path / f"ref{n}.db"
        _copy_catalog(tmp_path / "c.db", ref)
        got = _scan(engine, _opts(lib))
        assert plans[-1] == (3 if change == "photo" else 0)  # by parts: p2's pair + the new one
        assert got == _scan(Engine(ref, tmp_path / "thumbs"), _opts(lib))
        assert plans[-1] is None  # the reference regrouped all
    mp4s = [sorted(f["path"] for f in g["files"]) for g in got["groups"]]
    assert any(str(lib / "carphone-copy.mp4") in paths for paths in mp4s)


def _centre_crop(n: int, percent: int) -> Image.Image:
    """Photo ``n`` with ``percent`` % of its width cut off, evenly around it."""
    img = _photo(n, 0)
    w, h = img.size
    dx, dy = w * percent // 200, w * percent // 200 * h // w
    return img.crop((dx, dy, w - dx, h - dy))


@pytest.mark.parametrize("stored, new", [((12, 8), 16), ((12, 16), 8)])
def test_a_new_file_near_one_member_regroups_its_whole_component(tmp_path, plans, stored, new):
    """Crops of 8 and 16 % are each a copy of the 12 % one but not of each other: a new one
    that has an edge with one member of a stored group (not the other) regroups them all."""
    lib = tmp_path / "lib"
    lib.mkdir()
    for n in (1, 2):
        _write(lib / f"p{n}.jpg", n, 0)
        _write(lib / f"p{n}-s.jpg", n, 1)
    for pc_ in stored:
        _centre_crop(0, pc_).save(lib / f"c{pc_}.jpg", quality=90)
    engine = Engine(tmp_path / "c.db", tmp_path / "thumbs")
    first = _scan(engine, _opts(lib))
    assert any(len(g["files"]) == 2 and "c12.jpg" in str(g["files"]) for g in first["groups"])
    _centre_crop(0, new).save(lib / f"c{new}.jpg", quality=90)
    ref = tmp_path / "ref.db"
    _copy_catalog(tmp_path / "c.db", ref)
    got = _scan(engine, _opts(lib))
    assert plans[-1] == 3  # the crops; p1's and p2's groups kept
    assert got == _scan(Engine(ref, tmp_path / "thumbs"), _opts(lib))


def test_many_added_photos_regroup_by_parts_with_the_inverted_file(
    lib, tmp_path, plans, searches, monkeypatch
):
    """A change too large to search exactly (forced: the changed items' search and the
    part's by the inverted file, every cell probed so that it finds every pair): the rescan
    still regroups by parts, finds each new copy of an old photo and the new pair, leaves the
    hard negatives (other parts of a photo) apart, and gives a full regroup's groups."""
    _large(monkeypatch, nprobe=10**6)
    monkeypatch.setattr(group_parts, "PART_FLAT", 3)
    monkeypatch.setattr(group_parts, "touch_exactly", lambda *a: False)
    touch: list = []
    real = group_parts.HashIndex

    def watched(*a, **kw):
        got = real(*a, **kw)
        touch.append(got.kind)
        return got

    monkeypatch.setattr(group_parts, "HashIndex", watched)
    engine = Engine(tmp_path / "c.db", tmp_path / "thumbs")
    _scan(engine, _opts(lib))
    for n in range(4):
        _write(lib / f"p{n}-n.jpg", n, 3 - n % 3)  # a new copy of each old photo
    _write(lib / "p4.jpg", 4, 0)  # a new photo and its new copy
    _write(lib / "p4-n.jpg", 4, 1)
    _write(lib / "q1.jpg", 1, 4)  # a new hard negative of p1
    ref = tmp_path / "ref.db"
    _copy_catalog(tmp_path / "c.db", ref)
    plans.clear()
    searches.clear()
    got = _scan(engine, _opts(lib))
    assert plans[0] is not None, "regrouped all"
    assert touch == ["ivf", "ivf"] and searches == ["ivf"]
    found = _files(got)
    for n in range(5):  # p1's exact copy r1 is its own group: p1's new copy joins p1-s
        old = {f"p{n}.jpg", f"p{n}-s.jpg"}
        assert any(f"p{n}-n.jpg" in files and old & set(files) for _, files in found), found
    assert not any({"q0.jpg", "q1.jpg"} & set(files) for _, files in found)
    assert got == _scan(Engine(ref, tmp_path / "thumbs"), _opts(lib))
    assert plans[-1] is None and searches[-1] == "ivf"


def test_the_cost_model_regroups_a_months_photos_by_parts_in_a_million():
    """The lines the cost model draws for a library of 1 M photos (1.1 keys and 1.8 codes a
    photo, as the 100k mosaic set has): 20 changed photos are searched exactly, 40 000 by the
    inverted file, and regrouped by parts (a part of 60 000 photos); a part of all of them
    costs more than a full regroup."""
    n = 1_000_000
    prep = type("Prep", (), {})()
    prep.owner = np.concatenate([np.arange(n), np.arange(0, n, 10)])
    prep.code_owner = np.repeat(np.arange(n), np.where(np.arange(n) % 5 == 0, 1, 2))
    codes, keys = len(prep.code_owner), len(prep.owner)
    assert group_parts.touch_exactly(codes, keys, 36, 22)
    assert not group_parts.touch_exactly(codes, keys, 72_000, 44_000)
    changed = list(range(n - 40_000, n))
    costs = group_parts.Costs(prep, n, changed)
    assert costs.over(changed) == ""
    assert costs.over(list(range(n - 60_000, n))) == ""
    assert costs.over(list(range(n))) != ""
