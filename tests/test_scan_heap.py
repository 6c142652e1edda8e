"""The scan keeps its long-lived objects out of the collector's sight while it groups and
ranks (engine/heap.py), and gives them back when done: nothing stays frozen after a scan,
finished or stopped, and the groups are those of a scan with the collector left alone."""

from __future__ import annotations

import contextlib
import gc
from pathlib import Path

import pytest
from PIL import Image
from skimage import data

from lookalike.engine import heap
from lookalike.engine.api import Engine
from lookalike.engine.events import GroupFound, StageDone
from lookalike.engine.options import ScanOptions


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lib = tmp_path_factory.mktemp("lib")
    for name, arr in (("cat", data.chelsea()), ("cup", data.coffee()), ("man", data.astronaut())):
        img = Image.fromarray(arr)
        img.save(lib / f"{name}.jpg", quality=92)
        img.resize((img.width // 2, img.height // 2)).save(lib / f"{name}-small.jpg", quality=75)
    Image.fromarray(data.rocket()).save(lib / "rocket.jpg")  # a hard negative: no group
    return lib


def _scan(lib: Path, db: Path, seen: list[int]) -> list[tuple]:
    groups = []
    options = ScanOptions(roots=(lib,), workers=1, thumbnails=False)
    for ev in Engine(db, db.parent / "thumbs").scan_sync(options):
        if isinstance(ev, (GroupFound, StageDone)) and getattr(ev, "stage", "rank") in (
            "group",
            "rank",
        ):
            seen.append(gc.get_freeze_count())
        if isinstance(ev, GroupFound):
            groups.append((ev.group.tier, ev.group.keep, tuple(m.path for m in ev.group.members)))
    return groups


def test_frozen_while_grouping_and_ranking_and_nothing_frozen_after(library, tmp_path):
    gc.unfreeze()
    seen: list[int] = []
    groups = _scan(library, tmp_path / "a.db", seen)
    assert seen and min(seen) > 0  # frozen as the group stage ended and while groups went out
    assert gc.get_freeze_count() == 0
    assert len(groups) == 3 and all(len(g[2]) == 2 for g in groups)
    assert not any("rocket" in p for g in groups for p in g[2])


def test_the_same_groups_as_with_the_collector_left_alone(library, tmp_path, monkeypatch):
    gc.unfreeze()
    frozen = _scan(library, tmp_path / "a.db", [])
    monkeypatch.setattr(heap, "long_lived_frozen", contextlib.nullcontext)
    seen: list[int] = []
    plain = _scan(library, tmp_path / "b.db", seen)
    assert plain == frozen and max(seen) == 0


def test_a_consumer_that_stops_early_leaves_nothing_frozen(library, tmp_path):
    gc.unfreeze()
    options = ScanOptions(roots=(library,), workers=1, thumbnails=False)
    events = Engine(tmp_path / "c.db", tmp_path / "thumbs").scan_sync(options)
    for ev in events:
        if isinstance(ev, GroupFound):
            break
    assert gc.get_freeze_count() > 0
    events.close()
    assert gc.get_freeze_count() == 0


def test_no_collection_while_the_rows_are_built_and_on_again_after(library, tmp_path):
    """The walk, the catalog and the exact stage run with the collector off (heap.py
    ``collected_after``); it is on again from the extract on and after the scan, also after
    a consumer stopped inside the walk; a caller that had it off finds it off."""
    from lookalike.engine.events import StageProgress

    assert gc.isenabled()
    by_stage: dict[str, set[bool]] = {}
    options = ScanOptions(roots=(library,), workers=1, thumbnails=False)
    for ev in Engine(tmp_path / "a.db", tmp_path / "thumbs").scan_sync(options):
        if isinstance(ev, StageDone | StageProgress):
            by_stage.setdefault(ev.stage, set()).add(gc.isenabled())
    assert by_stage["discover"] == by_stage["catalog"] == by_stage["exact"] == {False}
    assert by_stage["extract"] == by_stage["rank"] == {True}
    assert gc.isenabled()
    events = Engine(tmp_path / "b.db", tmp_path / "thumbs").scan_sync(options)
    for ev in events:
        if isinstance(ev, StageDone) and ev.stage == "discover":
            assert not gc.isenabled()
            break
    events.close()
    assert gc.isenabled()
    gc.disable()
    try:
        list(Engine(tmp_path / "c.db", tmp_path / "thumbs").scan_sync(options))
        assert not gc.isenabled()
    finally:
        gc.enable()
