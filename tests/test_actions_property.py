"""Property: any sequence of operations (with undos and redos mixed in) on a generated tree,
followed by undoing everything, restores the exact tree — paths and bytes."""

from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lookalike.engine import actions as A
from lookalike.engine.records import Group, Member

OPS = ["trash", "quarantine", "quarantine:{q}", "move:{m}", "copy:{c}", "hardlink", "symlink"]
CONTENTS = [b"", b"a", b"alpha" * 50, b"beta" * 40, b"\x00\xff" * 300]
_counter = itertools.count()

names = st.tuples(
    st.sampled_from(["", "x", "x/y", "z", "sp ace", "ü"]),
    st.sampled_from(["p.jpg", "q.JPG", "r.png", ".hidden", "n"]),
).map(lambda t: os.path.join(t[0], t[1]))
trees = st.dictionaries(names, st.sampled_from(CONTENTS), min_size=2, max_size=7)
step = st.one_of(
    st.tuples(
        st.sampled_from(OPS),
        st.integers(0, 50),
        st.lists(st.integers(0, 50), min_size=1, max_size=4),
        st.one_of(st.none(), st.integers(1, 3)),
    ),
    st.sampled_from([("undo",), ("redo",)]),
)


def snapshot(root: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p))
        elif p.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = p.read_bytes()
    return out


def regular_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def member(path: Path) -> Member:
    s = path.stat()
    return Member(str(path), s.st_size, 1, 1, "", 1.0, mtime_ns=s.st_mtime_ns)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOOKALIKE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("LOOKALIKE_NO_FSYNC", "1")
    return tmp_path


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(tree=trees, steps=st.lists(step, min_size=1, max_size=5))
def test_any_operations_then_undo_restore_the_tree(env: Path, tree: dict, steps: list) -> None:
    base = env / f"ex{next(_counter)}"
    root = base / "tree"
    root.mkdir(parents=True)
    for rel, data in tree.items():
        p = root / rel
        if p.parent.exists() and not p.parent.is_dir():
            continue  # a file already took the folder's name
        if p.exists():
            continue
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    journal = base / "journal.sqlite"
    dirs = {"q": base / "Q", "m": base / "M", "c": base / "C"}
    before = snapshot(root)

    for s in steps:
        if s[0] == "undo":
            try:
                list(A.undo(None, journal))
            except A.NothingToDo:
                pass
            continue
        if s[0] == "redo":
            try:
                list(A.redo(None, journal))
            except A.NothingToDo:
                pass
            continue
        op, k, others, stop_after = s
        files = regular_files(root)
        if len(files) < 2:
            continue
        keep = files[k % len(files)]
        picked = {files[i % len(files)] for i in others} - {keep}
        if not picked:
            continue
        g = Group(1, "exact", str(keep), "", tuple(member(p) for p in [keep, *sorted(picked)]))
        plan = A.build_plan([g], op.format(**dirs))
        cancel = threading.Event()
        evs = []
        for ev in A.apply_plan(plan, journal, cancel=cancel):
            evs.append(ev)
            if stop_after is not None and isinstance(ev, A.ItemOutcome):
                stop_after -= 1
                if stop_after <= 0:
                    cancel.set()  # an interrupted batch: undo must restore its done part
        fin = evs[-1]
        assert isinstance(fin, A.BatchFinished)
        assert fin.failed == 0, [e for e in evs if isinstance(e, A.ItemOutcome)]
        assert keep.read_bytes() == before[str(keep.relative_to(root))]  # keeper untouched

    for _ in range(50):
        try:
            evs = list(A.undo(None, journal))
        except A.NothingToDo:
            break
        assert evs[-1].failed == 0, evs
    assert snapshot(root) == before
    for d in dirs.values():  # nothing left behind in the targets except copies' folders
        assert not [p for p in d.rglob("*") if p.is_file()] if d.exists() else True
