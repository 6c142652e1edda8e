"""Fault injection: a subprocess applying a 1,000-file batch is killed with SIGKILL at random
points. Afterwards no file is lost (each is at its source or where the journal says), the
journal tells which files moved, and undo restores the original tree. Some trials also kill
the undo half-way and finish it with a second undo.

``LOOKALIKE_NO_FSYNC=1`` keeps the trials fast: fsync guards against power loss, and a killed
process loses nothing that reached the kernel, so the test still exercises every ordering the
journal relies on.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lookalike.engine import actions as A
from lookalike.engine.actions import journal as jn
from lookalike.engine.model import Group, Member

N = 1000
TRIALS = 22

CHILD = r"""
import errno, os, sys
from pathlib import Path

boundary = os.environ.get("FAKE_EXDEV_BOUNDARY")
if boundary:  # pretend this folder is another filesystem: renames across it fail with EXDEV
    from lookalike.engine.actions import fsutil

    real = fsutil.rename_noclobber

    def rename(src, dst, *a, **kw):
        if str(src).startswith(boundary) != str(dst).startswith(boundary):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real(src, dst, *a, **kw)

    fsutil.rename_noclobber = rename

from lookalike.engine import actions as A

mode, plan_file, journal = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
if mode == "apply":
    for _ in A.apply_plan(A.load_plan(plan_file), journal):
        pass
else:
    for _ in A.undo(None, journal):
        pass
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOOKALIKE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("LOOKALIKE_NO_FSYNC", "1")
    return tmp_path


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() or p.is_symlink()
    }


def _done_count(db: sqlite3.Connection, mode: str) -> int:
    """Files the running child has finished (0 while its batch is not there yet)."""
    states = ("done", "skipped", "failed") if mode == "apply" else ("undone",)
    marks = ",".join("?" * len(states))
    try:
        row = db.execute(
            f"SELECT count(*) FROM items WHERE batch=(SELECT id FROM batches "
            f"ORDER BY created DESC LIMIT 1) AND state IN ({marks})",
            states,
        ).fetchone()
    except sqlite3.Error:
        return 0
    return row[0]


def _run_and_kill(args: list[str], journal: Path, mode: str, at: int, env: dict) -> bool:
    """Start the child, SIGKILL it once ``at`` files are finished; True if it was killed."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, mode, *args], env=env)
    db = None
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if db is None and journal.exists():
                db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=0.2)
            if db is not None and _done_count(db, mode) >= at:
                break
            time.sleep(0.004)
        killed = proc.poll() is None
        if killed:
            os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
        if db is not None:
            db.close()
    return killed


def _bytes_somewhere(rec: jn.ItemRecord, expected: bytes) -> bool:
    places = [rec.source, rec.dest or ""]
    places += [v for k, v in rec.detail.items() if k in ("tmp", "part") and isinstance(v, str)]
    for p in places:
        try:
            if p and Path(p).read_bytes() == expected:
                return True
        except OSError:
            continue
    return False


def test_sigkill_at_random_points_loses_nothing_and_undoes(env: Path) -> None:
    tree = env / "tree"
    groups = []
    for i in range(N):
        d = tree / f"d{i % 25}"
        d.mkdir(parents=True, exist_ok=True)
        k, x = d / f"k{i}.jpg", d / f"x{i}.jpg"
        k.write_bytes(b"photo %d " % i * 3)
        x.write_bytes(b"photo %d " % i * 3)
        groups.append(
            Group(
                i,
                "exact",
                str(k),
                "",
                tuple(
                    Member(str(p), p.stat().st_size, 1, 1, "", 1.0, mtime_ns=p.stat().st_mtime_ns)
                    for p in (k, x)
                ),
            )
        )
    before = snapshot(tree)
    other_fs = str(env / "otherfs")
    ops = [
        "trash",
        "quarantine",
        f"move:{env / 'moved'}",
        "hardlink",
        "symlink",
        f"move:{other_fs}",
        f"copy:{env / 'copies'}",
    ]
    plans = {op: A.build_plan(groups, op) for op in ops}
    assert all(len(p.items) == N for p in plans.values())
    journal = env / "journal.sqlite"
    rng = random.Random(20261122)
    killed_apply = killed_undo = 0

    for trial in range(TRIALS):
        op = ops[trial % len(ops)]
        plan = plans[op]
        plan_file = env / "plan.json"
        A.save_plan(plan, plan_file)
        child_env = dict(os.environ)
        if op.startswith(f"move:{other_fs}"):
            child_env["FAKE_EXDEV_BOUNDARY"] = other_fs
        at = rng.randrange(0, N - 64)  # at least one chunk before the end: a real mid-batch kill
        killed_apply += _run_and_kill(
            [str(plan_file), str(journal)], journal, "apply", at, child_env
        )

        # no file lost: each one's bytes are at its source or at a place the journal names
        with A.Journal(journal) as j:
            batch = j.batches(1)[0]
            recs = j.items(batch.id)
        assert len(recs) == N
        for rec in recs:
            name = str(Path(rec.source).relative_to(tree))
            assert _bytes_somewhere(rec, before[name]), (trial, op, rec)

        # the journal says which files moved: the report matches the disk
        report = A.pending_recovery(journal)
        if batch.state == jn.RUNNING:
            assert [b.id for b in report.batches] == [batch.id]
            for item in report.batches[0].items:
                src = Path(item.source)
                if op in ("hardlink", "symlink"):
                    linked = src.is_symlink() or (src.exists() and src.stat().st_nlink > 1)
                    assert item.done == linked, (trial, op, item)
                elif op.startswith("copy"):
                    assert src.exists()
                    if item.done:
                        assert Path(item.dest).read_bytes() == src.read_bytes()
                else:
                    assert item.done == (not src.exists()), (trial, op, item)
                    if item.done:
                        assert Path(item.dest).exists()
        else:
            assert not report.batches

        # sometimes the undo is killed too; a second undo finishes the job
        if trial % 3 == 2:
            killed_undo += _run_and_kill(
                [str(plan_file), str(journal)],
                journal,
                "undo",
                rng.randrange(0, N // 2),
                dict(os.environ),
            )
        for _ in range(3):
            try:
                evs = list(A.undo(None, journal))
            except A.NothingToDo:
                break
            assert evs[-1].failed == 0, [e for e in evs if getattr(e, "outcome", "") != "undone"]
        assert snapshot(tree) == before, (trial, op)
        assert not [p for p in (env / "copies").rglob("*") if p.is_file()]
        assert not A.pending_recovery(journal)

    assert killed_apply >= 20, killed_apply  # the kills really landed mid-batch
    assert killed_undo >= 1
