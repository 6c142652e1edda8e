"""A scan's groups are read from disk, not held as a list (issue 13, engine/scan_groups.py):
``ScanFinished.groups`` is a ``ScanGroups`` whose groups equal, one for one, those the scan
built and sent as ``GroupFound``; ``finish_scan`` merges it a chunk at a time into exactly the
review the old one-list merge stored; the spool leaves no file behind. Real photos."""

from __future__ import annotations

import gc
import os
import shutil
import weakref
from pathlib import Path

import pytest
from PIL import Image
from skimage import data

from lookalike.engine import scan_groups
from lookalike.engine.api import Engine
from lookalike.engine.catalog import Catalog
from lookalike.engine.events import GroupFound, ScanFinished
from lookalike.engine.options import ScanOptions
from lookalike.engine.scan_groups import GroupSpool, ScanGroups
from serve_helpers import make_folders


def _scan(engine: Engine, root: Path) -> tuple[list[GroupFound], ScanFinished]:
    events = list(engine.scan_sync(ScanOptions(roots=(root,), workers=1, thumbnails=False)))
    fin = events[-1]
    assert isinstance(fin, ScanFinished) and not fin.cancelled
    return [e for e in events if isinstance(e, GroupFound)], fin


def _spool_files(folder: Path) -> list[str]:
    return [n for n in os.listdir(folder) if n.startswith(".lookalike-scan-")]


def _open_spools() -> int:
    """Spool files this process still holds open (unlinked, so only /proc shows them)."""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("needs /proc")
    n = 0
    for fd in fds.iterdir():
        try:
            n += ".lookalike-scan-" in os.readlink(fd)
        except OSError:
            continue
    return n


@pytest.fixture
def library(tmp_path: Path) -> Path:
    return make_folders(tmp_path)


def test_finished_groups_are_the_groups_the_scan_built(library, tmp_path):
    engine = Engine(tmp_path / "cat.db", tmp_path / "thumbs")
    found, fin = _scan(engine, library)
    groups = fin.groups
    assert isinstance(groups, ScanGroups)
    built = [e.group for e in found]
    assert len(groups) == fin.stats.groups == len(built) == 3
    assert list(groups) == built  # every field, every member, the same order and ids
    assert groups == built and groups == tuple(built) and groups != built[:2]
    assert groups[0] == built[0] and groups[-1] == built[-1] and groups[1:] == built[1:]
    with pytest.raises(IndexError):
        groups[3]
    assert [g.id for g in groups] == [1, 2, 3]
    assert engine.last_groups() == built  # a full scan stores its own groups as they are
    assert _spool_files(tmp_path) == []  # nothing beside the catalog, during or after


def test_no_group_the_scan_built_is_still_held_when_it_finishes(library, tmp_path):
    """The scan keeps no list of its groups: once the consumer lets go of each GroupFound,
    every group the rank stage built is freed, and the finished event still reads them all
    (before, ScanFinished.groups held the very same objects to the end)."""
    engine = Engine(tmp_path / "cat.db", tmp_path / "thumbs")
    refs, fin = [], None
    for ev in engine.scan_sync(ScanOptions(roots=(library,), workers=1, thumbnails=False)):
        if isinstance(ev, GroupFound):
            refs.append(weakref.ref(ev.group))
        elif isinstance(ev, ScanFinished):
            fin = ev
        del ev
    gc.collect()
    assert len(refs) == 3 and all(r() is None for r in refs)
    assert fin is not None and [len(g.members) for g in fin.groups] == [2, 2, 2]


def test_the_spool_is_freed_with_the_last_reader(library, tmp_path):
    engine = Engine(tmp_path / "cat.db", tmp_path / "thumbs")
    gc.collect()
    before = _open_spools()
    _found, fin = _scan(engine, library)
    assert _open_spools() == before + 1 and len(list(fin.groups)) == 3
    del fin, _found
    gc.collect()
    assert _open_spools() == before


def test_a_cancelled_scan_has_no_groups(library, tmp_path):
    import threading

    cancel = threading.Event()
    cancel.set()
    engine = Engine(tmp_path / "cat.db", tmp_path / "thumbs")
    fin = list(engine.scan_sync(ScanOptions(roots=(library,), workers=1), cancel))[-1]
    assert fin.cancelled and fin.groups == () and len(fin.groups) == 0


def _stored(path: Path) -> list[tuple]:
    with Catalog(path) as cat:
        rows = cat.db.execute("SELECT ord, data, tier, bytes_to_free, members, keep FROM groups "
                              "ORDER BY ord").fetchall()  # fmt: skip
        files = cat.db.execute("SELECT * FROM group_files ORDER BY ord, path").fetchall()
    return [*rows, *files]


@pytest.mark.parametrize("full", [False, True])
def test_the_streamed_merge_stores_what_the_one_list_merge_stored(
    library, tmp_path, monkeypatch, full
):
    """A rescan of two of three folders: beta's groups are kept and sort between the new ones
    of alpha and gamma. The review merged from the spool a group at a time equals the old
    sorted-list merge of the same groups, row for row. A full rescan that regroups keeps
    nothing: the spool's rows are copied as they are — the same rows again (one that reuses
    the stored groups does not write them at all: test_rescan_reuse.py)."""
    (library / "gamma").mkdir()
    Image.fromarray(data.rocket()).save(library / "gamma" / "rocket.jpg", quality=90)
    shutil.copy(library / "gamma" / "rocket.jpg", library / "gamma" / "rocket-copy.jpg")
    engine = Engine(tmp_path / "cat.db", tmp_path / "thumbs")
    _scan(engine, library)
    assert engine.group_count() == 4
    shutil.copy(tmp_path / "cat.db", tmp_path / "ref.db")
    calls = []
    real = Catalog.finish_scan

    def finish_scan(self, scan_id, stats, groups, seen=None):
        calls.append((scan_id, list(groups), set(seen)))
        return real(self, scan_id, stats, groups, seen)

    monkeypatch.setattr(Catalog, "finish_scan", finish_scan)
    monkeypatch.setattr(scan_groups, "CHUNK", 1)  # a chunk a group: the merge interleaves
    monkeypatch.setenv("LOOKALIKE_REUSE_GROUPS", "0")  # an unchanged full rescan stores nothing
    roots = (library,) if full else (library / "alpha", library / "gamma")
    events = list(engine.scan_sync(ScanOptions(roots=roots, workers=1, thumbnails=False)))
    fin = events[-1]
    assert isinstance(fin.groups, ScanGroups) and len(fin.groups) == (4 if full else 2)
    ((scan_id, groups, seen),) = calls
    assert groups == [e.group for e in events if isinstance(e, GroupFound)]
    with Catalog(tmp_path / "ref.db") as cat:  # the reference: the same groups as a list
        assert cat.start_scan([str(r) for r in roots]) == scan_id
        real(cat, scan_id, {}, groups, seen)
    got, want = _stored(tmp_path / "cat.db"), _stored(tmp_path / "ref.db")
    tiers = [r[2] for r in got if len(r) == 6]
    assert len(tiers) == 4  # 2 new + 2 kept groups, or 4 new
    firsts = [os.path.basename(os.path.dirname(g.members[0].path)) for g in engine.last_groups()]
    assert firsts == ["alpha", "beta", "beta", "gamma"]  # kept ones between the new ones
    assert got == want


def test_an_empty_spool_reads_as_no_groups(tmp_path):
    spool = GroupSpool(tmp_path)
    groups = spool.done()
    assert len(groups) == 0 and list(groups) == [] and groups == () and groups.file_ids() == set()
    assert _spool_files(tmp_path) == []


def test_the_spool_writes_no_member_index_and_reads_back_what_the_catalog_stores(library, tmp_path):
    """The spool's member rows have no index (only read whole: scan_groups.spool_tables), its
    groups keep theirs (read by ord); what it gives back is what the catalog, with every
    index, stores and pages."""
    engine = Engine(tmp_path / "cat.db", tmp_path / "thumbs")
    found, fin = _scan(engine, library)
    groups = fin.groups
    spool = groups._db.db
    indexed = {r[0] for r in spool.execute("SELECT tbl_name FROM sqlite_master WHERE type='index'")}
    assert "groups" in indexed and "group_files" not in indexed
    with Catalog(tmp_path / "cat.db") as cat:
        names = {r[0] for r in cat.db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"group_files_ord", "group_files_path", "group_files_file"} <= names
    built = [e.group for e in found]
    assert list(groups) == built and groups.page([2, 0]) == [built[2], built[0]]
    assert groups.file_ids() == {m.file_id for g in built for m in g.members}
    assert engine.last_groups() == built
