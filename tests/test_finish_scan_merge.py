"""``Catalog.finish_scan`` keeps the stored groups a scan did not look at, choosing them from
the member columns (issue 13: a rescan no longer decodes the whole old review). Real photos,
real scans: the choice equals the rule written over decoded groups, case by case, and a full
rescan decodes no old group."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lookalike.engine import catalog_groups
from lookalike.engine.api import Engine
from lookalike.engine.catalog import Catalog
from lookalike.engine.options import ScanOptions
from serve_helpers import make_folders


def _scan(engine: Engine, root: Path) -> None:
    async def run() -> None:
        async for _ in engine.scan(ScanOptions(roots=(root,), workers=1)):
            pass

    asyncio.run(run())


def _by_rule(cat: Catalog, in_new: set, seen: set) -> list[int]:
    """The rule as finish_scan wrote it over every decoded group (the reference)."""
    old = cat.load_groups()
    rows = cat.files_by_ids({m.file_id for g in old for m in g.members if m.file_id})
    out = []
    for n, g in enumerate(old):
        ids = [m.file_id for m in g.members]
        if any(i is None or i in in_new for i in ids) or all(i in seen for i in ids):
            continue
        if all(
            (r := rows.get(m.file_id)) is not None and (r.size, r.mtime_ns) == (m.size, m.mtime_ns)
            for m in g.members
        ):
            out.append(n)
    return out


@pytest.fixture
def scanned(tmp_path: Path) -> tuple[Engine, Path]:
    lib = make_folders(tmp_path)
    engine = Engine(tmp_path / "cat.db", tmp_path / "thumbs")
    _scan(engine, lib)
    assert engine.group_count() == 3
    return engine, lib


def test_the_kept_groups_are_the_rule_over_decoded_groups(scanned):
    engine, lib = scanned
    with Catalog(engine.catalog_path) as cat:
        groups = cat.load_groups()
        ids = [[m.file_id for m in g.members] for g in groups]
        every = {i for g in ids for i in g}
        cases = [
            (set(), every),  # a full rescan that found nothing: every group was looked at
            (set(), set()),  # looked at nothing: every group stays
            (set(), set(ids[0])),  # one group's files looked at: the others stay
            ({ids[1][0]}, set(ids[0])),  # a file of group 2 is in a new group: it goes
            (set(), {ids[2][0]}),  # half of group 3 seen: it stays (its other half unseen)
        ]
        for in_new, seen in cases:
            got = catalog_groups.ords_kept(cat.db, in_new, seen)
            assert got == _by_rule(cat, in_new, seen), (in_new, seen)
        assert catalog_groups.ords_kept(cat.db, set(), set()) == [0, 1, 2]
        cat.db.execute("UPDATE files SET size = size + 1 WHERE id = ?", (ids[1][1],))
        assert (
            catalog_groups.ords_kept(cat.db, set(), set()) == [0, 2] == _by_rule(cat, set(), set())
        )  # a member that changed since: its group is no longer known to hold


def test_a_full_rescan_decodes_no_old_group_and_a_folder_scan_keeps_the_rest(scanned, monkeypatch):
    engine, lib = scanned
    before = [g.to_json() for g in engine.last_groups()]
    asked: list[list[int]] = []
    real_page = catalog_groups.page

    def page(db, ords, show_hidden=False):
        if db.execute("PRAGMA database_list").fetchone()[2] == str(engine.catalog_path):
            asked.append(list(ords))  # the catalog's stored groups (not the scan's own spool)
        return real_page(db, ords, show_hidden)

    monkeypatch.setattr(catalog_groups, "page", page)
    monkeypatch.setenv("LOOKALIKE_REUSE_GROUPS", "0")  # a reuse does not store the groups at all
    _scan(engine, lib)
    assert asked == [[]]  # every file was looked at: no stored group decoded to merge
    assert [g.to_json() for g in engine.last_groups()] == before
    asked.clear()
    _scan(engine, lib / "alpha")  # beta's two groups were not looked at: kept as they were
    assert [len(a) for a in asked] == [2]
    after = [g.to_json() for g in engine.last_groups()]
    strip = lambda gs: sorted((g["tier"], g["keep"], [f["path"] for f in g["files"]]) for g in gs)  # noqa: E731
    assert strip(after) == strip(before)
