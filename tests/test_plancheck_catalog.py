"""The plan check against its catalog, worked out in SQL (plancheck_catalog.py, issue 13).

The catalog rows are written directly (a scan's files, groups and members) so a plan of
thousands of items is checked in seconds; the real scan → plan → apply path is in
test_plan_stream.py and test_plan_hostile.py.
"""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from lookalike.engine.actions.plan import OpSpec, Plan, PlanItem
from lookalike.engine.actions.plancheck import PlanRejected, check_plan
from lookalike.engine.catalog import Catalog

HASH = bytes(range(16))


def _path(root: str, n: int, what: str) -> str:
    return os.path.join(root, "lib", f"{n:07d}-{what}.jpg")


class _Items:
    """A plan's items made as they are read (a spooled plan holds none in memory either)."""

    def __init__(self, root: str, count: int) -> None:
        self.root, self.count = root, count

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[PlanItem]:
        for n in range(self.count):
            yield _item(self.root, n)


def _item(root: str, n: int, **change: object) -> PlanItem:
    fields = dict(
        seq=n + 1, group_id=n + 1, op="trash", source=_path(root, n, "copy"), dest=None,
        keeper=_path(root, n, "keep"), size=1000 + n, mtime_ns=10**18 + n, hash=HASH.hex(),
        keeper_size=1000 + n, keeper_mtime_ns=10**18 + n, keeper_hash=HASH.hex(),
        keeper_dev=1, keeper_ino=n + 1,
    )  # fmt: skip
    fields.update(change)
    return PlanItem(**fields)  # type: ignore[arg-type]


def _catalog(path: Path, root: str, groups: int, tier: str = "exact") -> str:
    """A catalog whose scan found ``groups`` groups of two files (a copy and its keeper)."""
    with Catalog(path) as cat:
        for start in range(0, groups, 5000):
            ns = range(start, min(groups, start + 5000))
            files = [
                (os.fsencode(_path(root, n, w)), 1, 2 * n + (w == "keep"), 1000 + n, 10**18 + n,
                 HASH)
                for n in ns for w in ("copy", "keep")
            ]  # fmt: skip
            cat.db.executemany(
                "INSERT INTO files (path, dev, inode, size, mtime_ns, fullhash, seen_scan) "
                "VALUES (?,?,?,?,?,?,1)",
                files,
            )
            cat.db.executemany(
                "INSERT INTO groups (scan_id, ord, tier, data) VALUES (1, ?, ?, '{}')",
                [(n, tier) for n in ns],
            )
            cat.db.executemany(
                "INSERT INTO group_files (ord, path, size, mtime_ns) VALUES (?,?,?,?)",
                [
                    (n, f[0], f[3], f[4])
                    for n in ns
                    for f in files[2 * (n - start) : 2 * (n - start) + 2]
                ],
            )
        return cat.catalog_id()


def _plan(items: object, root: str, catalog: Path, catalog_id: str) -> Plan:
    return Plan(
        id="p1", op=OpSpec("trash"), items=items, roots=(root,),  # type: ignore[arg-type]
        catalog=str(catalog), catalog_id=catalog_id,
    )  # fmt: skip


def _check_peak(tmp_path: Path, groups: int) -> int:
    root = os.path.realpath(tmp_path / str(groups))
    db = tmp_path / f"{groups}.db"
    plan = _plan(_Items(root, groups), root, db, _catalog(db, root, groups))
    tracemalloc.start()
    try:
        check_plan(plan, fresh=False)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_catalog_check_memory_does_not_grow_with_the_plan(tmp_path: Path) -> None:
    """Eight times the items (each in the catalog, each in a group with its keeper): the
    check's Python memory stays put — the catalog's values are joined in SQL, not held in a
    dict per planned file and a set per path (≈ 1.5 kB an item before: 10 MB more here)."""
    small = _check_peak(tmp_path, 1_000)
    large = _check_peak(tmp_path, 8_000)
    assert large - small < 1_000_000, (small, large)


def test_catalog_refusals_found_in_sql(tmp_path: Path) -> None:
    """Each refusal the catalog gives, with its message, against the right item; the items
    the catalog agrees with pass; no stored member is ``lstat``-ed when none is needed."""
    root = os.path.realpath(tmp_path)
    db = tmp_path / "cat.db"
    cid = _catalog(db, root, 8)
    with Catalog(db) as cat:
        cat.db.execute("UPDATE groups SET tier='similar' WHERE ord=4")
        cat.db.execute(
            "UPDATE files SET fullhash=NULL WHERE path=?", (os.fsencode(_path(root, 5, "copy")),)
        )
        cat.db.execute(
            "UPDATE files SET fullhash=? WHERE path=?",
            (b"\1" * 16, os.fsencode(_path(root, 6, "copy"))),
        )
    items = [
        _item(root, 0),  # as the scan recorded it
        _item(root, 1, size=5),  # changed since the scan
        _item(root, 2, source=_path(root, 2, "other")),  # never scanned
        _item(root, 3, keeper=_path(root, 0, "keep"), keeper_ino=1),  # keeper of another group
        _item(root, 4),  # a similar group: the plan acts on exact/same only
        _item(root, 5),  # no hash stored: size and time are compared
        _item(root, 6),  # another hash stored
    ]
    with pytest.raises(PlanRejected) as got:
        check_plan(_plan(tuple(items), root, db, cid), fresh=False)
    src = [i.source for i in items]
    assert sorted(got.value.problems) == sorted([
        (src[1], "its size, time or hash differ from what the scan recorded"),
        (src[2], "not in the catalog: the scan never recorded this file"),
        (src[2], f"it and its keeper {items[2].keeper} are not in one group of the catalog"),
        (src[3], f"it and its keeper {items[3].keeper} are not in one group of the catalog"),
        (src[4], "its group is a similar group, which this plan may not act on "
         "(it acts on exact, same)"),
        (src[6], "its size, time or hash differ from what the scan recorded"),
    ])  # fmt: skip


def test_symlink_member_stands_for_its_real_file(tmp_path: Path, monkeypatch) -> None:
    """A group stored with a symlink member (a --follow-symlinks scan) holds its real file:
    a plan keeping that real file passes; the members are only looked at when needed."""
    root = os.path.realpath(tmp_path)
    db = tmp_path / "cat.db"
    cid = _catalog(db, root, 2)
    lib = Path(root, "lib")
    lib.mkdir()
    real_keep = _path(root, 0, "real")
    Path(real_keep).write_bytes(b"x")
    os.symlink(real_keep, _path(root, 0, "keep"))
    looked: list[str] = []
    islink = os.path.islink
    monkeypatch.setattr(os.path, "islink", lambda p: looked.append(p) or islink(p))
    check_plan(_plan((_item(root, 1),), root, db, cid), fresh=False)
    assert looked == []  # every item in a group with its keeper: no member looked at
    check_plan(_plan((_item(root, 0, keeper=real_keep),), root, db, cid), fresh=False)
    assert len(looked) == 4  # one item needed it: each stored member looked at once
    with pytest.raises(PlanRejected, match="are not in one group of the catalog"):
        check_plan(_plan((_item(root, 1, keeper=real_keep),), root, db, cid), fresh=False)


def test_members_not_looked_at_when_no_scan_followed_symlinks(tmp_path: Path, monkeypatch) -> None:
    """A catalog whose scans never followed symlinks holds no symlink member: a failing item
    costs no look at the stored members on disk, and is refused as before. Once a scan of it
    followed symlinks, a failing item looks again (and keeps doing so)."""
    root = os.path.realpath(tmp_path)
    db = tmp_path / "cat.db"
    cid = _catalog(db, root, 3)
    with Catalog(db) as cat:
        cat.db.execute("DELETE FROM scans")
        cat.start_scan([root])  # the catalog's first scan, not following symlinks
        cat.start_scan([root])
        assert cat.db.execute("SELECT value FROM meta WHERE key='symlinks'").fetchone() == ("0",)
    looked: list[str] = []
    islink = os.path.islink
    monkeypatch.setattr(os.path, "islink", lambda p: looked.append(p) or islink(p))
    other = _path(root, 2, "keep")
    with pytest.raises(PlanRejected, match="are not in one group of the catalog"):
        check_plan(_plan((_item(root, 0, keeper=other),), root, db, cid), fresh=False)
    assert looked == []
    with Catalog(db) as cat:
        cat.start_scan([root], follow_symlinks=True)
        cat.start_scan([root])  # a later scan without them: its stored groups may remain
    with pytest.raises(PlanRejected, match="are not in one group of the catalog"):
        check_plan(_plan((_item(root, 0, keeper=other),), root, db, cid), fresh=False)
    assert len(looked) == 6  # each stored member looked at once
