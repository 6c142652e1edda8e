"""A rescan in which nothing changed reuses the stored groups (engine/group_reuse.py): the
same output and events as a full regroup, on real photos; and each input that can change the
groups, changed alone, makes the rescan regroup (each test fails if it reused)."""

from __future__ import annotations

import io
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image
from skimage import data

from lookalike.engine import group_reuse, pipeline
from lookalike.engine.api import Engine
from lookalike.engine.catalog import Catalog
from lookalike.engine.events import GroupFound, StageDone, StageProgress
from lookalike.engine.options import ScanOptions
from lookalike.headless.runner import run_scan


def _library(lib: Path) -> Path:
    """Three photos, each with a half-size re-save (a "same" group), an exact copy, a lone
    photo and a broken file (an error on every scan)."""
    photos = (("a-cat", data.chelsea()), ("c-cup", data.coffee()), ("d-man", data.astronaut()))
    for name, arr in photos:
        img = Image.fromarray(arr)
        img.save(lib / f"{name}.jpg", quality=92)
        img.resize((img.width // 2, img.height // 2)).save(lib / f"{name}-small.jpg", quality=80)
    Image.fromarray(data.rocket()).save(lib / "e-rocket.jpg", quality=90)
    shutil.copy(lib / "a-cat.jpg", lib / "a-cat-copy.jpg")
    (lib / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    return lib


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    (tmp_path / "lib").mkdir()
    return _library(tmp_path / "lib")


@pytest.fixture
def grouped(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the full group stage's runs."""
    calls: list[int] = []
    real = pipeline.group

    def counting(ctx, ex):
        calls.append(1)
        return (yield from real(ctx, ex))

    monkeypatch.setattr(pipeline, "group", counting)
    return calls


def _opts(lib: Path, **kw) -> ScanOptions:
    return ScanOptions(**{"roots": (lib,), "workers": 1, "thumbnails": False, **kw})


def _scan(engine: Engine, options: ScanOptions, code: int = 3) -> str:
    out = io.StringIO()
    got = run_scan(engine, options, "json", out, None, progress="none", err=io.StringIO())
    assert got.code == code  # 3: broken.jpg, on every scan
    return out.getvalue()


def _untimed(text: str) -> dict:
    """The JSON document with the stats' seconds zeroed (their keys kept)."""
    doc = json.loads(text)

    def walk(d: object) -> None:
        if isinstance(d, dict):
            for k, v in d.items():
                if k == "seconds":
                    d[k] = 0
                elif k == "seconds_by_stage":
                    d[k] = dict.fromkeys(v, 0)
                else:
                    walk(v)
        elif isinstance(d, list):
            for x in d:
                walk(x)

    walk(doc)
    return doc


def _events(engine: Engine, options: ScanOptions) -> list:
    out = []
    for ev in engine.scan_sync(options):
        if isinstance(ev, StageProgress):
            continue  # rate-limited by the clock
        if isinstance(ev, StageDone):
            out.append(("done", ev.stage, ev.count))
        elif isinstance(ev, GroupFound):
            out.append(("group", json.dumps(ev.group.to_json(), sort_keys=True)))
        else:
            out.append((type(ev).__name__,))
    return out


def test_unchanged_rescan_reuses_the_groups_with_the_same_output(lib, tmp_path, grouped):
    engine = Engine(tmp_path / "c.db", tmp_path / "thumbs")
    doc = json.loads(_scan(engine, _opts(lib)))
    assert len(doc["groups"]) == 3  # three "same" groups, the exact copy in the cat's
    with Catalog(tmp_path / "c.db") as cat:
        group_reuse.forget(cat)
    full = _scan(engine, _opts(lib))  # a rescan that regroups, for the reference
    assert len(grouped) == 2
    reused = _scan(engine, _opts(lib, workers=2))  # workers do not change the groups
    assert len(grouped) == 2, "the unchanged rescan regrouped"
    assert _untimed(reused) == _untimed(full)
    assert set(json.loads(reused)["stats"]["seconds_by_stage"]) == set(
        json.loads(full)["stats"]["seconds_by_stage"]
    )
    # the events too: a full regroup (the record forgotten) against a reuse
    with Catalog(tmp_path / "c.db") as cat:
        group_reuse.forget(cat)
    full_events = _events(engine, _opts(lib))
    assert len(grouped) == 3
    reused_events = _events(engine, _opts(lib))
    assert len(grouped) == 3
    assert reused_events == full_events
    assert sum(e[0] == "group" for e in reused_events) == 3
    assert engine.group_count() == 3


CHANGES = {
    "sensitivity": lambda lib, o: replace(o, sensitivity=90),
    "same": lambda lib, o: replace(o, same=False),
    "keep_rules": lambda lib, o: replace(o, keep_rules=("smallest",)),
    "reference": lambda lib, o: replace(o, reference=(lib,)),
    "min_size": lambda lib, o: replace(o, min_size=10),
    "thumbnails": lambda lib, o: replace(o, thumbnails=True),
    "video": lambda lib, o: replace(o, video=False),
}


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_a_changed_option_regroups(lib, tmp_path, grouped, name):
    engine = Engine(tmp_path / "c.db", tmp_path / "thumbs")
    _scan(engine, _opts(lib))
    _scan(engine, CHANGES[name](lib, _opts(lib)))
    assert len(grouped) == 2, f"{name} changed and the rescan reused the groups"


def _touch(lib: Path) -> None:
    st = os.stat(lib / "c-cup-small.jpg")
    os.utime(lib / "c-cup-small.jpg", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def _add(lib: Path) -> None:
    img = Image.fromarray(data.rocket())
    img.resize((img.width // 2, img.height // 2)).save(lib / "e-rocket-small.jpg", quality=80)


def _drop_feature(cat_path: Path) -> None:
    with Catalog(cat_path) as cat, cat.transaction():
        cat.db.execute("DELETE FROM features WHERE rowid = (SELECT MIN(rowid) FROM features)")


def _edit_groups(cat_path: Path) -> None:
    with Catalog(cat_path) as cat, cat.transaction():
        cat.db.execute("DELETE FROM groups WHERE ord = 0")


def _hide(lib: Path, cat_path: Path) -> None:
    from lookalike.engine import hidden

    with Catalog(cat_path) as cat:
        hidden.hide(cat.db, [(str(lib / "d-man-small.jpg"), "test-rule", 0.9)])


INPUTS = {
    "file added": lambda lib, eng, cat: _add(lib),
    "file changed": lambda lib, eng, cat: _touch(lib),
    "file removed": lambda lib, eng, cat: (lib / "d-man-small.jpg").unlink(),
    "file renamed": lambda lib, eng, cat: os.rename(lib / "a-cat-copy.jpg", lib / "b-cat.jpg"),
    "not a duplicate": lambda lib, eng, cat: eng.mark_not_duplicate(
        [str(lib / "c-cup.jpg"), str(lib / "c-cup-small.jpg")]
    ),
    "features": lambda lib, eng, cat: _drop_feature(cat),
    "stored groups": lambda lib, eng, cat: _edit_groups(cat),
    "hidden by a rule": lambda lib, eng, cat: _hide(lib, cat),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_a_changed_input_regroups(lib, tmp_path, grouped, name):
    engine = Engine(tmp_path / "c.db", tmp_path / "thumbs")
    _scan(engine, _opts(lib))
    INPUTS[name](lib, engine, tmp_path / "c.db")
    _scan(engine, _opts(lib))
    assert len(grouped) == 2, f"{name} changed and the rescan reused the groups"


def test_environment_code_and_roots_regroup(lib, tmp_path, grouped, monkeypatch):
    engine = Engine(tmp_path / "c.db", tmp_path / "thumbs")
    _scan(engine, _opts(lib))
    monkeypatch.setenv("LOOKALIKE_DISK_COLUMNS", "1")
    _scan(engine, _opts(lib))
    assert len(grouped) == 2
    monkeypatch.setattr(group_reuse, "PERCEPTUAL_VERSION", -1)
    _scan(engine, _opts(lib))
    assert len(grouped) == 3
    monkeypatch.setattr(group_reuse, "_engine_source", lambda: "another build")
    _scan(engine, _opts(lib))
    assert len(grouped) == 4
    monkeypatch.setattr(group_reuse, "_libraries", lambda: "numpy=another")
    _scan(engine, _opts(lib))
    assert len(grouped) == 5
    other = tmp_path / "other"
    other.mkdir()
    _scan(engine, replace(_opts(lib), roots=(lib, other)))
    assert len(grouped) == 6
    _scan(engine, replace(_opts(lib), roots=(lib, other)))
    assert len(grouped) == 6  # and unchanged again: reused
    monkeypatch.setenv("LOOKALIKE_REUSE_GROUPS", "0")  # benchmarks of the group stage
    _scan(engine, replace(_opts(lib), roots=(lib, other)))
    _scan(engine, replace(_opts(lib), roots=(lib, other)))
    assert len(grouped) == 8


def test_a_scan_of_part_of_the_review_does_not_remember(lib, tmp_path, grouped):
    """A subfolder scan keeps the other groups in the review: its groups are not the review,
    so the next scan of that subfolder regroups."""
    sub = lib / "sub"
    sub.mkdir()
    img = Image.fromarray(data.immunohistochemistry())
    img.save(sub / "stain.jpg", quality=92)
    img.resize((256, 256)).save(sub / "stain-small.jpg", quality=80)
    engine = Engine(tmp_path / "c.db", tmp_path / "thumbs")
    _scan(engine, _opts(lib))
    _scan(engine, _opts(sub), code=0)
    _scan(engine, _opts(sub), code=0)
    assert len(grouped) == 3


def _stored_rows(db: Path) -> tuple[list, list, int]:
    """The stored review's rows, its members' rows and the id of its rows' scan."""
    with Catalog(db) as cat:
        groups = cat.db.execute("SELECT ord, tier, data FROM groups ORDER BY ord").fetchall()
        files = cat.db.execute("SELECT * FROM group_files ORDER BY rowid").fetchall()
        (scan,) = cat.db.execute("SELECT DISTINCT scan_id FROM groups").fetchone()
    return groups, files, scan


def test_a_reuse_spools_the_stored_rows_and_leaves_the_review_unwritten(lib, tmp_path, grouped):
    """The reused groups are spooled as their stored rows (``GroupSpool.copy_stored``), not
    encoded again, and the stored review is not written again: ``ScanFinished.groups`` (read
    from the spool) are the groups sent, the review's rows and their scan id stay, the scan
    itself is recorded as finished, and a regroup stores them under its own scan again."""
    from lookalike.engine.events import ScanFinished
    from lookalike.engine.scan_groups import GroupSpool

    db = tmp_path / "c.db"
    engine = Engine(db, tmp_path / "thumbs")
    _scan(engine, _opts(lib))
    before = _stored_rows(db)
    copies: list[bool] = []
    real = GroupSpool.copy_stored

    def counted(self, catalog):
        copies.append(real(self, catalog))
        return copies[-1]

    sent, fin = [], None
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(GroupSpool, "copy_stored", counted)
        for ev in engine.scan_sync(_opts(lib)):
            if isinstance(ev, GroupFound):
                sent.append(ev.group)
            elif isinstance(ev, ScanFinished):
                fin = ev
    assert len(grouped) == 1 and copies == [True]  # reused, its rows copied
    assert fin is not None and len(sent) == 3
    assert list(fin.groups) == sent  # the spool reads back the very groups sent
    assert [g.id for g in sent] == [1, 2, 3]
    assert _stored_rows(db) == before  # not written again: the same rows, the same scan id
    with Catalog(db) as cat:
        (n, unfinished) = cat.db.execute(
            "SELECT COUNT(*), SUM(finished IS NULL) FROM scans"
        ).fetchone()
        newest = cat.db.execute("SELECT MAX(id) FROM scans").fetchone()[0]
        group_reuse.forget(cat)
    assert (n, unfinished) == (2, 0) and newest == before[2] + 1
    _scan(engine, _opts(lib))  # a regroup stores the review under its own scan
    groups, files, scan = _stored_rows(db)
    assert (groups, files) == before[:2] and scan == newest + 1


def test_the_stored_rows_are_copied_only_in_the_spools_places(tmp_path):
    """A review whose ords are not 0 … n-1 (a spool's places) is not copied: the replay then
    spools its groups one by one."""
    import sqlite3

    from lookalike.engine.result_store import review_tables
    from lookalike.engine.scan_groups import GroupSpool

    db = sqlite3.connect(tmp_path / "review.db")
    db.executescript(review_tables())
    row = "INSERT INTO groups (scan_id, ord, tier, bytes_to_free, members, keep, data) VALUES "
    db.execute(row + "(1, 0, 'same', 10, 2, x'2f61', '{}')")
    db.execute(row + "(1, 2, 'same', 10, 2, x'2f62', '{}')")  # a gap: ord 1 missing
    db.commit()
    assert GroupSpool(tmp_path).copy_stored(tmp_path / "review.db") is False
    db.execute(row + "(1, 1, 'same', 10, 2, x'2f63', '{}')")
    db.commit()
    spool = GroupSpool(tmp_path)
    assert spool.copy_stored(tmp_path / "review.db") is True and spool.count == 3
    assert [g[0] for g in spool._db.db.execute("SELECT keep FROM groups ORDER BY ord")] == [
        b"/a",
        b"/c",
        b"/b",
    ]
    assert GroupSpool(tmp_path).copy_stored(tmp_path / "missing.db") is False
