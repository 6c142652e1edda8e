"""Fault injection: a process applying a 1,000-file batch, undoing it or redoing it — or
emptying the quarantine — is killed with SIGKILL at 20 random moments of each. Each trial
kills the apply, then the undo of what the apply did, then the redo of what was undone (so
the three kills cost about one batch of work). After every kill:

* nothing is lost: before settling, each file's bytes are at its source or at a place the
  journal names (destination, temp name, part file);
* after settling (what the next command does first) each file is in exactly one place, no
  temp or part file and no orphan ``.trashinfo`` is left, and every journal row is in a final
  state that agrees with the disk;
* a following undo completes and the tree is byte-for-byte what it was.

The worker is a ``fork`` of the test process (lookalike is already imported, so a trial costs
the work done before the kill, not an interpreter start-up). It SIGKILLs itself — a real
SIGKILL: no cleanup, no ``finally`` — once a random number of files are finished (at least one
chunk before the end), at the n-th next call of a random hook (a journal commit, a content
hash, a folder sync, an ``lstat``): so the moment is chosen by the seeded RNG, never by
timing, and falls anywhere inside an operation. ``LOOKALIKE_NO_FSYNC=1`` keeps the trials
fast: fsync guards against power loss, and a killed process loses nothing that reached the
kernel, so every ordering the journal relies on is still exercised. The RNG is seeded.
"""

from __future__ import annotations

import errno
import os
import random
import signal
import stat
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

from lookalike.engine import actions as A
from lookalike.engine.actions import fsutil, trash
from lookalike.engine.actions import journal as jn
from lookalike.engine.records import Group, Member

N = 1000
TRIALS = int(os.environ.get("FAULT_TRIALS", "20"))  # fewer while iterating on the code
MOVES = ("trash", "quarantine", "move")
LINKS = ("hardlink", "symlink")

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOOKALIKE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("LOOKALIKE_NO_FSYNC", "1")
    monkeypatch.delenv("LOOKALIKE_JOURNAL", raising=False)
    return tmp_path


def make_groups(tree: Path) -> list[Group]:
    groups = []
    for i in range(N):
        d = tree / f"d{i % 25}"
        d.mkdir(parents=True, exist_ok=True)
        k, x = d / f"k{i}.jpg", d / f"x{i}.jpg"
        k.write_bytes(b"photo %d " % i * 3)
        x.write_bytes(b"photo %d " % i * 3)
        members = tuple(
            Member(str(p), p.stat().st_size, 1, 1, "", 1.0, mtime_ns=p.stat().st_mtime_ns)
            for p in (k, x)
        )
        groups.append(Group(i, "exact", str(k), "", members))
    return groups


def snapshot(root: Path) -> dict[str, bytes]:
    """relative path → bytes of every file under ``root`` (a symlink: ``LINK→target``, a file
    with other hard links: marked), so a link left where a file was never passes for it."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            if os.path.islink(p):
                out[os.path.relpath(p, root)] = b"LINK->" + os.fsencode(os.readlink(p))
                continue
            with open(p, "rb") as fh:
                links = os.fstat(fh.fileno()).st_nlink  # a hard link left behind shows
                out[os.path.relpath(p, root)] = fh.read() + (b"" if links == 1 else b"+LINKED")
    return out


def leftovers(root: Path) -> list[str]:
    """Temp and part files (``.NAME.lookalike-…``) anywhere under ``root``."""
    return [
        os.path.join(d, f)
        for d, dirs, files in os.walk(root)
        for f in files + dirs
        if fsutil.TMP_MARK in f
    ]


# -- the killed worker ---------------------------------------------------------------------------
APPLIED = frozenset({jn.ITEM_DONE, jn.SKIPPED, jn.FAILED})
UNDONE = frozenset({jn.ITEM_UNDONE, jn.UNDO_FAILED})
PURGED = frozenset({jn.PURGED})
# Where the kill lands, after the chosen number of files: at the n-th next call of one of
# these — between a journal commit and the file operation, inside a move/copy/link, before
# its result … Each is reached for every file of every operation in its phase (an undo of a
# move hashes nothing, hence the shorter list).
FLUSH, HASH, SYNC, LSTAT = (
    (jn.Journal, "flush", 3),
    (fsutil, "hash_file", 3),
    (fsutil, "fsync_dir", 3),
    (os, "lstat", 25),
)
HOOKS = {"apply": (FLUSH, HASH, SYNC, LSTAT), "undo": (FLUSH, SYNC, LSTAT)}


def _exdev_across(boundary: str) -> None:
    """In the worker: renames across ``boundary`` fail with EXDEV (another filesystem)."""
    real = fsutil.rename_noclobber

    def rename(src: str, dst: str) -> None:
        if str(src).startswith(boundary) != str(dst).startswith(boundary):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real(src, dst)

    fsutil.rename_noclobber = rename  # type: ignore[assignment]


def _arm_kill(
    after: int, finished_states: frozenset[str], hook: tuple[object, str, int], skip: int
) -> None:
    """In the worker: once ``after`` files have a final state, SIGKILL this process at the
    ``skip``-th next call of ``hook`` — a real SIGKILL (no cleanup, no finally), at a
    moment chosen by the seeded RNG, not by timing."""
    finished = 0
    left = skip
    real_set_item = jn.Journal.set_item

    def set_item(self: jn.Journal, batch_id: str, seq: int, state: str, **kw: object) -> None:
        nonlocal finished
        real_set_item(self, batch_id, seq, state, **kw)  # type: ignore[arg-type]
        finished += state in finished_states

    target, name, _ = hook
    real = getattr(target, name)

    def tripwire(*a: object, **kw: object) -> object:
        nonlocal left
        if finished >= after:
            if left == 0:
                os.kill(os.getpid(), signal.SIGKILL)
            left -= 1
        return real(*a, **kw)

    jn.Journal.set_item = set_item  # type: ignore[method-assign]
    setattr(target, name, tripwire)


def kill_at(
    work: Callable[[], object],
    after: int,
    finished_states: frozenset[str],
    rng: random.Random,
    boundary: str | None = None,
) -> bool:
    """Run ``work`` in a forked worker that SIGKILLs itself after ``after`` finished files
    (at a random hook call); True if it died that way, False if it finished first."""
    hook = rng.choice(HOOKS["undo" if finished_states == UNDONE else "apply"])
    skip = rng.randrange(hook[2])
    pid = os.fork()
    if pid == 0:  # the worker: never returns into pytest
        code = 0
        try:
            if boundary:
                _exdev_across(boundary)
            _arm_kill(after, finished_states, hook, skip)
            for _ in work():  # type: ignore[attr-defined]
                pass
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status):
        assert os.WEXITSTATUS(status) == 0, "the worker failed (traceback above)"
        return False
    return os.WTERMSIG(status) == signal.SIGKILL


# -- invariants ----------------------------------------------------------------------------------
def _is_content(path: str | None, expected: bytes) -> bool:
    if not path:
        return False
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        return Path(path).read_bytes() == expected
    except OSError:
        return False


def check_nothing_lost(recs: list[jn.ItemRecord], tree: Path, before: dict) -> None:
    """Right after the kill: each file's bytes are somewhere the journal names."""
    for rec in recs:
        expected = before[str(Path(rec.source).relative_to(tree))]
        places = [rec.source, rec.dest]
        places += [v for k, v in rec.detail.items() if k in ("tmp", "part", "restore_to")]
        if rec.op in LINKS:
            places.append(rec.keeper)  # a finished link's bytes are the keeper's
        assert any(_is_content(p, expected) for p in places), rec


def check_settled(recs: list[jn.ItemRecord], tree: Path, before: dict, roots: list[Path]) -> None:
    """After settling: final states only, each agreeing with the disk; each file in exactly
    one place; no temp/part file and no orphan .trashinfo anywhere."""
    final = {jn.ITEM_DONE, jn.NOT_DONE, jn.SKIPPED, jn.FAILED, jn.ITEM_UNDONE, jn.UNDO_FAILED}
    for rec in recs:
        assert rec.state in final, rec
        expected = before[str(Path(rec.source).relative_to(tree))]
        acted = rec.state in (jn.ITEM_DONE, jn.UNDO_FAILED)
        if rec.op in MOVES:
            at_src, at_dest = _is_content(rec.source, expected), _is_content(rec.dest, expected)
            assert at_src + at_dest == 1, rec  # exactly once
            assert at_dest == acted, rec
        elif rec.op in LINKS:
            st, kst = os.lstat(rec.source), os.stat(rec.keeper or "")
            linked = (
                stat.S_ISLNK(st.st_mode) and os.readlink(rec.source) == rec.keeper
                if rec.op == "symlink"
                else st.st_ino == kst.st_ino
            )
            assert linked == acted, rec
            assert linked or _is_content(rec.source, expected), rec
        elif rec.op == "copy":
            assert _is_content(rec.source, expected), rec
            assert os.path.lexists(rec.dest or "") == acted, rec
    for root in roots:
        assert not leftovers(root)
    for can in (trash.home_trash(),):
        info = Path(can.info)
        if info.exists():
            orphans = [p for p in info.iterdir() if trash.is_orphan_info(str(p))]
            assert not orphans, orphans


def undo_all(journal: Path) -> None:
    """Undo until nothing is left; no restore may fail."""
    for _ in range(4):
        try:
            evs = list(A.undo(None, journal))
        except A.NothingToDo:
            return
        assert evs[-1].failed == 0, [e for e in evs if getattr(e, "outcome", "") != "undone"]
    raise AssertionError("undo never ran out of work")


# -- the tests -----------------------------------------------------------------------------------
def test_sigkill_during_apply_undo_and_redo(env: Path) -> None:
    tree = env / "tree"
    groups = make_groups(tree)
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
    roots = [tree, env / "moved", env / "otherfs", env / "copies", env / "data", env / "xdg"]
    rng = random.Random(20261125)
    kills = {"apply": 0, "undo": 0, "redo": 0}

    def after_kill(batch_id: str) -> None:
        with A.Journal(journal) as j:
            recs = j.items(batch_id)
        assert len(recs) > 0
        check_nothing_lost(recs, tree, before)
        A.settle_pending(journal)  # what the next command does first
        with A.Journal(journal) as j:
            assert not j.batches_in(jn.ACTIVE)
            check_settled(j.items(batch_id), tree, before, roots)

    for trial in range(TRIALS):
        op = ops[trial % len(ops)]
        boundary = other_fs if op == f"move:{other_fs}" else None
        plan = plans[op]

        # 1. the 1,000-file apply, killed (at least two chunks in, one chunk before the end)
        kills["apply"] += kill_at(
            lambda plan=plan: A.apply_plan(plan, journal),
            rng.randrange(128, N - 64),
            APPLIED,
            rng,
            boundary,
        )
        batch = A.history(journal, 1)[0].id
        after_kill(batch)
        with A.Journal(journal) as j:
            done = len(j.items(batch, (jn.ITEM_DONE,)))

        # 2. its undo, killed; the next undo finishes it
        kills["undo"] += kill_at(
            lambda: A.undo(None, journal), rng.randrange(0, done - 64), UNDONE, rng, boundary
        )
        after_kill(batch)
        undo_all(journal)
        assert snapshot(tree) == before, (trial, op, "undo")

        # 3. redo of the undone files, killed; undo rolls the redo back
        kills["redo"] += kill_at(
            lambda b=batch: A.redo(b, journal), rng.randrange(0, done - 64), APPLIED, rng, boundary
        )
        redo_batch = A.history(journal, 1)[0]
        assert redo_batch.redo_of == batch
        after_kill(redo_batch.id)
        undo_all(journal)
        assert snapshot(tree) == before, (trial, op, "redo")
        assert not [p for p in (env / "copies").rglob("*") if p.is_file()]
        assert not A.pending_recovery(journal)

    # every kill landed mid-batch (armed at least one chunk before the end)
    assert kills == {"apply": TRIALS, "undo": TRIALS, "redo": TRIALS}, kills


def test_sigkill_during_quarantine_empty(env: Path) -> None:
    """20 kills of one ``quarantine empty`` of 1,000 files, each resumed by the next: every
    file is either purged (and journalled so) or still quarantined and restorable; undo then
    brings back every file that was not purged, and every group keeps its keeper."""
    tree = env / "tree"
    groups = make_groups(tree)
    before = snapshot(tree)
    journal = env / "journal.sqlite"
    fin = list(A.apply_plan(A.build_plan(groups, "quarantine"), journal))[-1]
    assert fin.done == N
    rng = random.Random(20261126)
    kills = 0

    for _trial in range(TRIALS):
        kills += kill_at(
            lambda: [A.empty_quarantine(None, journal)], rng.randrange(0, 40), PURGED, rng
        )
        with A.Journal(journal) as j:  # before settling: nothing half-purged is lost
            recs = j.items(fin.batch_id)
        for rec in recs:
            expected = before[str(Path(rec.source).relative_to(tree))]
            if rec.state == jn.PURGED:
                assert not os.path.lexists(rec.dest or "")
            elif rec.state == jn.ITEM_DONE:
                assert _is_content(rec.dest, expected), rec
            else:
                assert rec.state == jn.PURGING, rec
        A.settle_pending(journal)
        with A.Journal(journal) as j:
            recs = j.items(fin.batch_id)
        for rec in recs:
            expected = before[str(Path(rec.source).relative_to(tree))]
            assert rec.state in (jn.PURGED, jn.ITEM_DONE), rec
            assert os.path.lexists(rec.dest or "") == (rec.state == jn.ITEM_DONE), rec
            assert rec.state == jn.PURGED or _is_content(rec.dest, expected), rec
            assert not os.path.lexists(rec.source)
        listed = {r.seq for r in A.quarantine_contents(None, journal)}
        assert listed == {r.seq for r in recs if r.state == jn.ITEM_DONE}

    assert kills == TRIALS, kills
    with A.Journal(journal) as j:
        purged_seqs = {r.seq for r in j.items(fin.batch_id) if r.state == jn.PURGED}
    assert 0 < len(purged_seqs) < N
    undo_all(journal)
    after = snapshot(tree)
    for g in groups:
        keep, dup = (str(Path(m.path).relative_to(tree)) for m in g.members)
        assert after[keep] == before[keep]  # every group keeps its copy
    for item in A.batch_items(fin.batch_id, journal):
        rel = str(Path(item.source).relative_to(tree))
        if item.seq in purged_seqs:
            assert rel not in after
        else:
            assert after[rel] == before[rel]
