"""EngineAdapter against the real actions/journal API (no Textual): plan → apply → history →
undo → redo on real files, so a change in ``lookalike.engine.actions`` shows up here first."""

from __future__ import annotations

import os
from pathlib import Path

from lookalike.engine.api import Engine
from lookalike.engine.records import Group, Member
from lookalike.ui.engine_port import ApplyProgress, EngineAdapter, as_port


def member(path: Path) -> Member:
    st = os.stat(path)
    return Member(str(path), st.st_size, 10, 10, "JPEG", 1.0, mtime_ns=st.st_mtime_ns)


def test_plan_apply_undo_redo_through_the_adapter(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    files = {}
    for name, data in (("a.jpg", b"A" * 1000), ("a_copy.jpg", b"A" * 1000), ("a2.jpg", b"A" * 900)):
        (photos / name).write_bytes(data)
        files[name] = photos / name
    group = Group(
        1, "same", str(files["a.jpg"]), "largest", tuple(member(p) for p in files.values())
    )
    port = as_port(Engine(catalog_path=tmp_path / "catalog.sqlite"))
    assert isinstance(port, EngineAdapter)

    # The user keeps a.jpg AND a2.jpg: only a_copy.jpg may be planned.
    plan = port.plan([group], {1: [str(files["a_copy.jpg"])]}, "quarantine")
    assert [i.source for i in plan.items] == [str(files["a_copy.jpg"])]
    assert plan.groups == 1 and plan.bytes == 1000 and plan.items[0].destination

    steps: list[ApplyProgress] = []
    result = port.apply(plan, steps.append)
    assert result.done == 1 and result.failed == 0 and steps[-1].done == 1
    assert not files["a_copy.jpg"].exists() and files["a2.jpg"].exists()

    history = port.history()
    assert history[0].batch_id == result.batch_id and history[0].state == "done"
    assert any("a_copy.jpg" in line for line in history[0].details)

    undone = port.undo(result.batch_id)
    assert undone.done == 1 and files["a_copy.jpg"].read_bytes() == b"A" * 1000
    assert port.history()[0].state == "undone"

    redone = port.redo(result.batch_id)
    assert redone.done == 1 and not files["a_copy.jpg"].exists()
    states = {b.batch_id: b.state for b in port.history()}
    assert states[result.batch_id] == "redone" and states[redone.batch_id] == "done"
    assert port.recovery_notes() == []


def test_state_round_trip_through_the_catalog(tmp_path: Path) -> None:
    port = as_port(Engine(catalog_path=tmp_path / "catalog.sqlite"))
    port.save_state("ui.review", {"position": 3, "marks": ["/x.jpg"]})
    assert port.load_state("ui.review") == {"position": 3, "marks": ["/x.jpg"]}
    assert port.load_state("missing", 7) == 7
