"""A plan's items and refusals are spooled to a temp file as they are made, not held (issue
13), and a slow source (a stored review) is read once: the plan file, its signature and the
plan itself are what holding them gave. Real photos."""

from __future__ import annotations

import gc
import json
import os
import pickle
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from lookalike.engine.actions import plan_spool
from lookalike.engine.actions.errors import PlanRefused
from lookalike.engine.actions.plan import PlanItem, Refusal, load_plan, plan_document, save_plan
from lookalike.engine.actions.plan_build import Rewalk, build_plan
from lookalike.engine.actions.plan_spool import RowSpool
from lookalike.engine.actions.plan_walk import review_stamp
from lookalike.engine.api import Engine
from lookalike.engine.catalog import Catalog
from lookalike.engine.events import ScanFinished
from lookalike.engine.options import ScanOptions
from serve_helpers import make_folders


@pytest.fixture
def scanned(tmp_path: Path):
    lib = make_folders(tmp_path)
    engine = Engine(tmp_path / "cat.db", tmp_path / "thumbs")
    events = list(engine.scan_sync(ScanOptions(roots=(lib,), workers=1, thumbnails=False)))
    assert isinstance(events[-1], ScanFinished)
    return lib, engine, list(events[-1].groups)


def _live(kind: type) -> int:
    gc.collect()
    return sum(isinstance(o, kind) for o in gc.get_objects())


def test_a_built_plan_holds_no_item_and_writes_the_same_file(scanned, tmp_path):
    """The old builder held a ``PlanItem`` per acted file until the plan was dropped; now
    none is alive once it is built, and the plan file is byte for byte the one the held
    items give (the same document, the same signature)."""
    lib, engine, groups = scanned
    held_elsewhere = _live(PlanItem)  # by other tests' plans in this process
    plan = build_plan(
        Rewalk(lambda: iter(groups)), "quarantine", tiers=("exact", "same", "similar")
    )
    assert len(plan.items) == 3 and _live(PlanItem) == held_elsewhere
    held = replace(plan, items=tuple(plan.items), refused=tuple(plan.refused))
    assert (
        _live(PlanItem) == held_elsewhere + 3
        and held.items == plan.items
        and plan.items == held.items
    )
    assert plan.items[-1] == held.items[2] and plan.items[1:] == held.items[1:]
    assert list(plan.items) == list(held.items) and plan.bytes == held.bytes > 0
    save_plan(plan, tmp_path / "plan.json")
    want = json.dumps(plan_document(held), indent=1)
    assert (tmp_path / "plan.json").read_text(encoding="utf-8") == want
    assert load_plan(tmp_path / "plan.json").signed
    assert pickle.loads(pickle.dumps(plan)) == held  # the rows travel as tuples


def test_rows_cross_blocks_and_keep_any_path(monkeypatch):
    """Rows read a block at a time (here 64 bytes: a row or two a read), from two threads
    at once; a path that is not UTF-8 (a surrogate escape) comes back the same."""
    monkeypatch.setattr(plan_spool, "BLOCK", 64)
    spool: RowSpool[Refusal] = RowSpool(Refusal, lambda r: (r.group_id, r.path, r.reason, r.kept))
    odd = os.fsdecode(b"/photos/caf\xe9-\xff.jpg")
    want = [
        Refusal(n, f"{odd}/{n}" * (n % 7 + 1), "why " * (n % 5), n % 2 == 0) for n in range(300)
    ]
    spool.extend(want)
    rows = spool.done()
    assert len(rows) == 300 and rows == want and rows[-1] == want[-1] and rows[7] == want[7]
    assert rows[290:400] == tuple(want[290:]) and rows[::50] == tuple(want[::50])
    with pytest.raises(IndexError):
        rows[300]
    got: list[bool] = []
    readers = [threading.Thread(target=lambda: got.append(list(rows) == want)) for _ in range(4)]
    for t in readers:
        t.start()
    for t in readers:
        t.join()
    assert got == [True] * 4


def test_a_source_read_once_gives_the_plan_two_reads_give(scanned):
    """``Rewalk(once=True)`` reads its source once (the second walk reads the spool) and
    plans what two reads plan: the same items, refusals and meta."""
    lib, engine, groups = scanned
    reads: list[int] = []

    def make():
        reads.append(1)
        return iter(groups)

    every = ("exact", "same", "similar")
    once = build_plan(Rewalk(make, once=True), "hardlink", tiers=every, roots=[lib])
    assert len(reads) == 1
    twice = build_plan(Rewalk(make), "hardlink", tiers=every, roots=[lib])
    assert len(reads) == 3
    assert once.items == twice.items and len(once.items) >= 2
    assert once.refused == twice.refused and once.meta == twice.meta


def test_a_review_stored_while_it_is_read_once_refuses_the_plan(scanned):
    """Read once, the review's groups are read a page at a time: a scan that stores its
    groups in the middle of that read changes the review's stamp, and the plan is refused as
    when two walks differed; a content rule that hides a file changes it too."""
    lib, engine, groups = scanned
    path = engine.catalog_path

    def make():
        yield groups[0]
        with Catalog(path) as cat:  # a scan finishes meanwhile (the same groups, a new scan)
            cat.finish_scan(cat.start_scan([str(lib)]), {}, groups, seen=None)
        yield from groups[1:]

    with pytest.raises(PlanRefused, match="the groups changed while the plan was built"):
        build_plan(Rewalk(make, once=True, stamp=lambda: review_stamp(path)), "trash")
    quiet = build_plan(
        Rewalk(lambda: iter(groups), once=True, stamp=lambda: review_stamp(path)), "trash"
    )
    assert len(quiet.items) == 3
    before = review_stamp(path)
    engine.save_state("review-position", 3)  # a reviewer's state: not the groups
    assert review_stamp(path) == before
    from lookalike.engine import hidden

    with Catalog(path) as cat:
        assert hidden.hide(cat.db, [(groups[0].members[1].path, "test", 1.0)]) == 1
    assert review_stamp(path) != before
