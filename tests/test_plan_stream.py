"""Plans hold their items, not every group (issue 13): ``build_plan`` walks a scan's spooled
groups twice, a chunk at a time, and ``scan --action/--plan-out`` hands it the spool instead
of a list — with the same plan, refusals and errors the whole-list build gave. Real photos."""

from __future__ import annotations

import gc
import json
import os
import weakref
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from lookalike.cli import main as cli
from lookalike.engine.actions import plan_build
from lookalike.engine.actions.errors import PlanRefused, UsageError
from lookalike.engine.actions.plan_build import Rewalk, build_plan
from lookalike.engine.api import Engine
from lookalike.engine.events import ScanFinished
from lookalike.engine.options import ScanOptions
from lookalike.engine.records import Group
from lookalike.engine.scan_groups import PagedGroups, ScanGroups
from serve_helpers import make_folders


class Counted(PagedGroups):
    """A scan's groups read one at a time, each group it hands out watched (weakref)."""

    chunk = 1

    def __init__(self, groups: ScanGroups) -> None:
        super().__init__(len(groups))
        self.inner, self.refs = groups, []

    def _read(self, offset: int, limit: int) -> list[Group]:
        got = self.inner.page(range(offset, offset + limit))
        self.refs += [weakref.ref(g) for g in got]
        return got

    def alive(self) -> int:
        gc.collect()
        return sum(r() is not None for r in self.refs)


@pytest.fixture
def scanned(tmp_path: Path) -> tuple[Path, Engine, ScanGroups]:
    lib = make_folders(tmp_path)
    engine = Engine(tmp_path / "cat.db", tmp_path / "thumbs")
    events = list(engine.scan_sync(ScanOptions(roots=(lib,), workers=1, thumbnails=False)))
    fin = events[-1]
    assert isinstance(fin, ScanFinished) and isinstance(fin.groups, ScanGroups)
    assert {g.tier for g in fin.groups} == {"exact", "same"}  # the two moto shots stay apart
    return lib, engine, fin.groups


def _doc(plan) -> dict:
    data = plan.to_json()
    data.pop("created")
    return data


def test_the_plan_builder_holds_one_chunk_of_groups_not_all(scanned, monkeypatch):
    """While keepers are hashed (first walk) and members staged (second walk), at most one
    group read from the spool is alive; the old build listed every group first."""
    lib, engine, groups = scanned
    counted = Counted(groups)
    seen_alive: list[int] = []
    real_resolve, real_stage = plan_build._resolve_keeper, plan_build._stage_group

    def resolve(g, *a):
        seen_alive.append(counted.alive())
        return real_resolve(g, *a)

    def stage(g, *a):
        seen_alive.append(counted.alive())
        return real_stage(g, *a)

    monkeypatch.setattr(plan_build, "_resolve_keeper", resolve)
    monkeypatch.setattr(plan_build, "_stage_group", stage)
    plan = build_plan(counted, "trash", catalog=engine.catalog_path, tiers=("exact", "same"))
    acted = [g for g in groups if g.tier in ("exact", "same")]
    assert len(seen_alive) == 2 * len(acted) >= 6  # each acted group: resolved, then staged
    assert max(seen_alive) == 1  # the group being checked; never all 3
    assert len(counted.refs) == 2 * len(groups)  # two walks, each read every group once
    assert len(plan.items) == sum(len(g.members) - 1 for g in acted)
    assert plan.meta == {"groups": len(groups), "reviewed": 0, "agreed": 0}


@pytest.mark.parametrize("action", ["trash", "quarantine", "hardlink"])
def test_a_streamed_plan_is_the_whole_list_plan(scanned, monkeypatch, action):
    """The same items, destinations, refusals (in their order) and meta from a list, the
    spool, and a Rewalk of it: a reference folder, a missing file and a tier not asked for."""
    lib, engine, groups = scanned
    monkeypatch.setattr(plan_build, "new_id", lambda: "20261126-000000-abcd")
    os.unlink(lib / "beta" / "man-copy.jpg")  # missing since the scan
    kw = dict(
        catalog=engine.catalog_path,
        references=[lib / "alpha"],
        suggested={g.id: g.keep for g in groups},
        tiers=("exact",),
    )
    whole = build_plan(list(groups), action, **kw)
    spooled = build_plan(groups, action, **kw)
    again = build_plan(Rewalk(lambda: iter(groups)), action, **kw)
    once = build_plan(iter(groups), action, **kw)
    assert _doc(spooled) == _doc(whole) == _doc(again) == _doc(once)
    reasons = [r.reason for r in whole.refused]
    assert any("reference folder" in r for r in reasons)
    assert any("missing" in r for r in reasons)
    assert any("pass --tier same" in r for r in reasons)
    assert whole.meta["reviewed"] == whole.meta["agreed"] == len(groups)


def test_a_keeperless_group_still_refuses_first(scanned, tmp_path):
    """A group whose keeper is not one of its files refuses the plan before a bad catalog is
    even looked at, naming the first five — as the whole-list build did."""
    lib, engine, groups = scanned
    bad = [replace(g, keep="/nowhere.jpg") for g in groups]
    with pytest.raises(PlanRefused, match=r"group 1 \(keeper /nowhere.jpg"):
        build_plan(Rewalk(lambda: iter(bad)), "trash", catalog=tmp_path / "none.db")
    with pytest.raises(UsageError, match="no catalog at"):
        build_plan(groups, "trash", catalog=tmp_path / "none.db")


def test_scan_plan_out_walks_the_spool(tmp_path, monkeypatch):
    """``scan --no-ui --action trash --plan-out``: the plan builder reads the scan's spool a
    chunk at a time (the command listed every group before), once (its second walk reads
    what the first spooled); the plan acts on every copy but the keeper of each group, and
    never on the two different moto shots."""
    lib = make_folders(tmp_path)
    monkeypatch.setattr(PagedGroups, "chunk", 1)
    reads: list[weakref.ref] = []
    alive: list[int] = []
    real_read, real_resolve = ScanGroups._read, plan_build._resolve_keeper

    def read(self, offset, limit):
        got = real_read(self, offset, limit)
        reads.extend(weakref.ref(g) for g in got)
        return got

    def resolve(g, *a):
        gc.collect()
        alive.append(sum(r() is not None for r in reads))
        return real_resolve(g, *a)

    in_plan: list[int] = []
    real_build = plan_build.build_plan

    def build(*a, **k):
        before = len(reads)
        try:
            return real_build(*a, **k)
        finally:
            in_plan.append(len(reads) - before)

    monkeypatch.setattr(ScanGroups, "_read", read)
    monkeypatch.setattr(plan_build, "_resolve_keeper", resolve)
    monkeypatch.setattr(plan_build, "build_plan", build)
    plan_file = tmp_path / "plan.json"
    args = ["scan", "--no-ui", str(lib), "--db", str(tmp_path / "c.db"), "--workers", "1"]
    r = CliRunner().invoke(cli, [*args, "--action", "trash", "--plan-out", str(plan_file)])
    assert r.exit_code == 0, r.output
    assert alive and max(alive) == 1
    doc = json.loads(plan_file.read_text())
    names = sorted(os.path.basename(i["source"]) for i in doc["items"])
    assert len(names) == 3 and "moto-left.jpg" not in names and "moto-right.jpg" not in names
    assert doc["meta"]["groups"] == 3 and doc["refused"] == []
    assert in_plan == [3]  # the spool's 3 groups decoded once by the builder (it was twice)


def test_apply_checks_the_plan_against_member_rows_not_decoded_groups(scanned, monkeypatch):
    """``apply``'s catalog check (plancheck) finds each file's stored groups from the member
    rows: no group is decoded (it decoded and indexed every stored group), and a keeper from
    another group or a tier the plan does not act on is still refused."""
    from lookalike.engine import catalog_groups, catalog_schema
    from lookalike.engine.actions.plancheck import PlanRejected, check_plan
    from lookalike.engine.catalog import Catalog

    lib, engine, groups = scanned
    plan = build_plan(groups, "trash", catalog=engine.catalog_path)
    assert len(plan.items) == 3

    def refuse(*_a, **_k):
        raise AssertionError("a stored group was decoded")

    monkeypatch.setattr(Catalog, "load_groups", refuse)
    monkeypatch.setattr(catalog_schema, "group_from_row", refuse)
    monkeypatch.setattr(catalog_groups, "group_from_row", refuse)
    check_plan(plan, fresh=True)  # the untouched plan passes
    a, b = plan.items[0], plan.items[1]
    swapped = replace(plan, items=(replace(a, keeper=b.keeper), *plan.items[1:]))
    with pytest.raises(PlanRejected, match="are not in one group of the catalog"):
        check_plan(swapped, fresh=False)
    same = next(i for i in plan.items if "small" in i.source)
    with pytest.raises(PlanRejected, match="its group is a same group"):
        check_plan(replace(plan, items=(same,), tiers=("exact",)), fresh=False)


def test_export_of_the_last_scan_reads_the_review_in_pages(tmp_path, monkeypatch):
    """``lookalike export DEST`` without --groups reads the stored review a page at a time
    from the member columns (it decoded every stored group into a list): every file of every
    group is exported (unreviewed groups keep all their files), hidden ones left out."""
    from lookalike.engine import catalog_groups, hidden
    from lookalike.engine.catalog import Catalog

    lib = make_folders(tmp_path)
    engine = Engine()  # the default catalog, as export reads it
    list(engine.scan_sync(ScanOptions(roots=(lib,), workers=1, thumbnails=False)))
    stored = engine.last_groups()
    with Catalog(engine.catalog_path) as cat:
        assert hidden.hide(cat.db, [(str(lib / "beta" / "man-copy.jpg"), "test", 1.0)]) == 1
    want = sorted(
        os.path.relpath(m.path, lib) for g in stored for m in g.members if "man" not in m.path
    )

    def refuse(*_a, **_k):
        raise AssertionError("every stored group was decoded")

    monkeypatch.setattr(Engine, "last_groups", refuse)
    monkeypatch.setattr(catalog_groups, "group_from_row", refuse)
    monkeypatch.setattr("lookalike.commands.export.PAGE", 1, raising=False)
    r = CliRunner().invoke(cli, ["export", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    got = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.jpg"))
    assert got == want and len(want) == 4  # the man pair lost a file: no longer a group


def test_groups_that_change_between_the_walks_refuse_the_plan(scanned):
    """The builder walks the groups twice; a second walk that sees other groups (a stored
    review a scan replaced in between: here two groups swap ids) would pair one group's
    files with another's keeper, so the plan is refused and nothing is planned."""
    lib, engine, groups = scanned
    walks: list[int] = []

    def make():
        walks.append(1)
        got = list(groups)
        if len(walks) == 2:
            got = [replace(got[1], id=got[0].id), replace(got[0], id=got[1].id), *got[2:]]
        return iter(got)

    with pytest.raises(PlanRefused, match="the groups changed while the plan was built"):
        build_plan(Rewalk(make), "trash", catalog=engine.catalog_path)
    assert len(walks) == 2
    assert build_plan(Rewalk(lambda: iter(groups)), "trash").items  # the same groups: planned


def test_undo_is_the_function_whatever_was_imported_first():
    """``lookalike.engine.actions.undo`` is both a submodule and the package's lazy function:
    once something imported the submodule first, the package attribute is the module, and
    ``lookalike undo`` failed with "'module' object is not callable" (seen when pytest
    collected tests/test_merge_backups.py before the CLI tests). Fresh interpreter."""
    import subprocess
    import sys

    code = (
        "import lookalike.engine.actions.undo\n"
        "from lookalike.engine import actions\n"
        "from lookalike.commands import batches\n"
        "from lookalike.serve import plans\n"
        "assert callable(actions.undo) and actions.undo is batches.undo is plans.undo\n"
        "from lookalike.engine.actions.undo import UNDO_FROM\n"  # the module is still there
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
