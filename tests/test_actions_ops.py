"""Each operation applies, is journalled and undoes to the exact original; the safety rules
(keeper untouched, changed files skipped, no overwrite, cross-device moves, permission errors,
crash settling) hold."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from lookalike.engine import actions as A
from lookalike.engine.actions import fsutil, trash
from lookalike.engine.actions import journal as jn
from lookalike.engine.actions import operations as ops
from lookalike.engine.records import Group, Member


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOOKALIKE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LOOKALIKE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("LOOKALIKE_NO_FSYNC", "1")
    return tmp_path


def member(path: Path) -> Member:
    st = path.stat()
    return Member(str(path), st.st_size, 10, 10, "JPEG", 1.0, mtime_ns=st.st_mtime_ns)


def group(gid: int, keep: Path, *others: Path) -> Group:
    return Group(gid, "exact", str(keep), "test", tuple(member(p) for p in (keep, *others)))


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() or p.is_symlink()
    }


def make_tree(root: Path) -> tuple[Path, Path, Path]:
    (root / "a").mkdir(parents=True)
    (root / "b" / "c").mkdir(parents=True)
    k = root / "a" / "keep.jpg"
    d1 = root / "b" / "dup.jpg"
    d2 = root / "b" / "c" / "dup.jpg"
    for p in (k, d1, d2):
        p.write_bytes(b"same bytes " * 100)
    return k, d1, d2


def run(events) -> tuple[list[A.ItemOutcome], A.BatchFinished]:
    evs = list(events)
    assert isinstance(evs[-1], A.BatchFinished)
    return [e for e in evs if isinstance(e, A.ItemOutcome)], evs[-1]


@pytest.mark.parametrize(
    "op",
    ["trash", "quarantine", "quarantine:{q}", "move:{q}", "copy:{q}", "hardlink", "symlink"],
)
def test_apply_then_undo_restores_exact_tree(env: Path, op: str) -> None:
    tree = env / "tree"
    k, d1, d2 = make_tree(tree)
    if os.getuid() == 0:  # the owner comes back too
        os.chown(d1, 1234, 1234)
    before = snapshot(tree)
    modes = {p: p.stat().st_mode for p in (d1, d2)}
    mtimes = {p: p.stat().st_mtime_ns for p in (d1, d2)}
    plan = A.build_plan([group(1, k, d1, d2)], op.format(q=env / "q"))
    assert [i.source for i in plan.items] == [str(d1), str(d2)]
    items, fin = run(A.apply_plan(plan))
    assert fin.done == 2 and fin.failed == 0 and fin.skipped == 0
    assert k.read_bytes() == before["a/keep.jpg"]  # the keeper is never touched
    if op.startswith(("trash", "quarantine", "move")):
        assert not d1.exists() and not d2.exists()
        assert all(Path(i.dest).read_bytes() == before["b/dup.jpg"] for i in items)
    if op == "hardlink":
        assert d1.stat().st_ino == k.stat().st_ino
    if op == "symlink":
        assert d1.is_symlink() and os.readlink(d1) == str(k)
    if op.startswith("move") or op.startswith("quarantine:"):
        assert (env / "q" / "dup.jpg").exists() and (env / "q" / "c" / "dup.jpg").exists()
    _, ufin = run(A.undo())
    assert ufin.done == 2 and ufin.state == "undone"
    assert snapshot(tree) == before
    for p in (d1, d2):
        assert not p.is_symlink() and p.stat().st_mode == modes[p]
        assert p.stat().st_mtime_ns == mtimes[p]
    if os.getuid() == 0:
        assert (d1.stat().st_uid, d1.stat().st_gid) == (1234, 1234)
    if op.startswith(("move", "copy", "quarantine:")):
        assert not any((env / "q").rglob("*"))  # folders made for the batch are gone again


def test_trash_writes_trashinfo_and_undo_finds_it(env: Path) -> None:
    tree = env / "tree"
    k, d1, _ = make_tree(tree)
    items, _ = run(A.apply_plan(A.build_plan([group(1, k, d1)], "trash")))
    dest = Path(items[0].dest)
    assert dest.parent == env / "xdg" / "Trash" / "files"
    info = env / "xdg" / "Trash" / "info" / (dest.name + ".trashinfo")
    text = info.read_text()
    assert text.startswith("[Trash Info]\n") and f"Path={d1}" in text and "DeletionDate=" in text
    assert trash.find_in_trash(str(d1)) == [(str(dest), str(info))]
    # someone renamed the item inside the trash: undo finds it through its .trashinfo
    moved = dest.with_name("renamed.jpg")
    dest.rename(moved)
    info.rename(info.with_name("renamed.jpg.trashinfo"))
    run(A.undo())
    assert d1.read_bytes() == k.read_bytes()
    assert not any((env / "xdg" / "Trash" / "info").iterdir())


def test_topdir_trash_for_another_filesystem(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = env / "tree"
    k, d1, _ = make_tree(tree)
    real = fsutil.device_of

    def fake_dev(path: str) -> int:  # pretend the tree is on another filesystem
        return real(path) + (1 if str(path).startswith(str(tree)) else 0)

    monkeypatch.setattr(fsutil, "device_of", fake_dev)
    monkeypatch.setattr(fsutil, "mount_point", lambda p: str(tree))
    items, fin = run(A.apply_plan(A.build_plan([group(1, k, d1)], "trash")))
    assert fin.done == 1
    can = tree / f".Trash-{os.getuid()}"
    assert Path(items[0].dest).parent == can / "files"
    info = (can / "info" / "dup.jpg.trashinfo").read_text()
    assert "Path=b/dup.jpg" in info  # relative to the top dir, as the spec says
    assert trash.find_in_trash(str(d1))
    run(A.undo())
    assert d1.exists()


def test_group_losing_all_copies_is_refused(env: Path) -> None:
    tree = env / "tree"
    k, d1, d2 = make_tree(tree)
    bad = Group(1, "exact", str(env / "elsewhere.jpg"), "r", (member(d1), member(d2)))
    with pytest.raises(A.PlanRefused, match="every copy"):
        A.build_plan([bad], "trash")
    # a file that is the keeper of another group is never acted on
    plan = A.build_plan([group(1, k, d1), group(2, d1, d2)], "trash")
    assert [i.source for i in plan.items] == [str(d2)]
    assert plan.refused[0].path == str(d1) and "keeper of group 2" in plan.refused[0].reason


def test_keeper_vanishing_before_apply_spares_the_group(env: Path) -> None:
    tree = env / "tree"
    k, d1, d2 = make_tree(tree)
    plan = A.build_plan([group(1, k, d1, d2)], "trash")
    k.unlink()
    items, fin = run(A.apply_plan(plan))
    assert fin.skipped == 2 and d1.exists() and d2.exists()
    assert "keeper" in items[0].message


def test_file_changed_after_scan_is_skipped(env: Path) -> None:
    tree = env / "tree"
    k, d1, d2 = make_tree(tree)
    m1 = member(d1)
    # changed between scan and plan: size differs from what the scan saw
    d2.write_bytes(b"edited")
    plan = A.build_plan([Group(1, "exact", str(k), "r", (member(k), m1, member(d2)))], "trash")
    assert len(plan.items) == 2
    # changed between plan and apply: same size and mtime, different bytes
    st = d1.stat()
    d1.write_bytes(b"X" * st.st_size)
    os.utime(d1, ns=(st.st_atime_ns, st.st_mtime_ns))
    d2.write_bytes(b"edited again")
    items, fin = run(A.apply_plan(plan))
    assert fin.done == 0 and fin.skipped == 2
    assert d1.read_bytes() == b"X" * st.st_size and d2.exists()
    assert "content changed" in items[0].message
    with A.Journal() as j:
        recs = j.items(fin.batch_id)
    assert {r.state for r in recs} == {"skipped"}


def test_plan_time_change_detected_against_scan(env: Path) -> None:
    tree = env / "tree"
    k, d1, _ = make_tree(tree)
    m = member(d1)
    d1.write_bytes(b"longer content than before " * 10)
    plan = A.build_plan([Group(1, "exact", str(k), "r", (member(k), m))], "trash")
    assert not plan.items and "changed since the scan" in plan.refused[0].reason


def test_collisions_get_a_suffix_never_overwrite(env: Path) -> None:
    tree = env / "tree"
    k, d1, d2 = make_tree(tree)
    q = env / "q"
    (q / "c").mkdir(parents=True)
    (q / "dup.jpg").write_bytes(b"someone else's file")
    (q / "c" / "dup.jpg").write_bytes(b"another")
    items, _ = run(A.apply_plan(A.build_plan([group(1, k, d1, d2)], f"move:{q}")))
    assert [Path(i.dest).name for i in items] == ["dup~1.jpg", "dup~1.jpg"]
    assert (q / "dup.jpg").read_bytes() == b"someone else's file"
    # two trashed files with the same name
    items, _ = run(
        A.apply_plan(A.build_plan([group(1, k, *[Path(i.dest) for i in items])], "trash"))
    )
    assert sorted(Path(i.dest).name for i in items) == ["dup~1.jpg", "dup~1~1.jpg"]
    # undo restores to a suffixed name when the original name was taken meanwhile
    run(A.undo())
    run(A.undo())
    assert d1.exists()
    # now trash d1, put a new file where it was, and undo: the new file is kept
    items, _ = run(A.apply_plan(A.build_plan([group(1, k, d1)], "trash")))
    d1.write_bytes(b"new file at the old name")
    outcomes, fin = run(A.undo())
    assert fin.done == 1 and "restored as" in outcomes[0].message
    assert d1.read_bytes() == b"new file at the old name"
    assert (d1.parent / "dup~1.jpg").read_bytes() == k.read_bytes()


def _exdev_rename(real, boundary: Path):
    def rename(src, dst, *a, **kw):
        if str(src).startswith(str(boundary)) != str(dst).startswith(str(boundary)):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real(src, dst, *a, **kw)

    return rename


def test_cross_device_move_copies_verifies_removes(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = env / "tree"
    k, d1, d2 = make_tree(tree)
    before = snapshot(tree)
    q = env / "otherfs"
    monkeypatch.setattr(fsutil, "rename_noclobber", _exdev_rename(fsutil.rename_noclobber, q))
    if os.getuid() == 0:
        os.chown(d1, 1234, 1234)
    plan = A.build_plan([group(1, k, d1, d2)], f"move:{q}")
    items, fin = run(A.apply_plan(plan))
    assert fin.done == 2
    if os.getuid() == 0:
        assert (q / "dup.jpg").stat().st_uid == 1234
    assert not d1.exists() and (q / "dup.jpg").read_bytes() == before["b/dup.jpg"]
    assert not [p for p in q.rglob("*") if ".part" in p.name]
    with A.Journal() as j:
        assert all(r.detail["cross_device"] for r in j.items(fin.batch_id))
    run(A.undo())  # back across the boundary, again by copy
    assert snapshot(tree) == before


def test_cross_device_copy_that_does_not_verify_keeps_original(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = env / "tree"
    k, d1, _ = make_tree(tree)
    q = env / "otherfs"
    monkeypatch.setattr(fsutil, "rename_noclobber", _exdev_rename(fsutil.rename_noclobber, q))
    real_hash = fsutil.hash_file
    monkeypatch.setattr(
        fsutil,
        "hash_file",
        lambda p: "bad" if ".part" in str(p) else real_hash(p),
    )
    plan = A.build_plan([group(1, k, d1)], f"move:{q}")
    items, fin = run(A.apply_plan(plan))
    assert fin.failed == 1 and d1.exists()
    assert not list(q.rglob("*.part")) and not (q / "dup.jpg").exists()


def test_permission_error_leaves_everything_in_place(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # we run as root, where chmod does not bite: simulate the kernel saying no
    tree = env / "tree"
    k, d1, d2 = make_tree(tree)
    before = snapshot(tree)
    real = fsutil.rename_noclobber

    def deny(src, dst, *a, **kw):
        if str(src) == str(d1) or str(src).startswith(str(d1.parent / ".dup.jpg")):
            raise PermissionError(errno.EACCES, "Permission denied", str(src))
        return real(src, dst, *a, **kw)

    monkeypatch.setattr(fsutil, "rename_noclobber", deny)
    for op in ("trash", "quarantine", "hardlink", "symlink"):
        items, fin = run(A.apply_plan(A.build_plan([group(1, k, d1)], op)))
        assert fin.failed == 1, op
        assert "permission denied" in items[0].message and "left in place" in items[0].message
        assert snapshot(tree) == before
    # read-only filesystem, same story
    monkeypatch.setattr(
        fsutil,
        "rename_noclobber",
        lambda *a, **k: (_ for _ in ()).throw(OSError(errno.EROFS, "Read-only file system")),
    )
    items, fin = run(A.apply_plan(A.build_plan([group(1, k, d2)], "quarantine")))
    assert fin.failed == 1 and "read-only" in items[0].message
    assert snapshot(tree) == before
    assert not list((env / "xdg" / "Trash" / "info").glob("*.trashinfo"))


def test_link_failure_puts_the_duplicate_back(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = env / "tree"
    k, d1, _ = make_tree(tree)
    before = snapshot(tree)

    def no_link(*a, **kw):
        raise OSError(errno.EMLINK, "Too many links")

    monkeypatch.setattr(os, "link", no_link)
    items, fin = run(A.apply_plan(A.build_plan([group(1, k, d1)], "hardlink")))
    assert fin.failed == 1 and snapshot(tree) == before


def test_links_refuse_different_content(env: Path) -> None:
    tree = env / "tree"
    k, d1, _ = make_tree(tree)
    d1.write_bytes(b"a similar shot, not the same bytes")
    plan = A.build_plan([group(1, k, d1)], "hardlink")
    assert not plan.items and "differs from the keeper" in plan.refused[0].reason


def test_delete_needs_permission_and_cannot_be_undone(env: Path) -> None:
    tree = env / "tree"
    k, d1, _ = make_tree(tree)
    plan = A.build_plan([group(1, k, d1)], "delete")
    with pytest.raises(A.ConfirmationRequired):
        list(A.apply_plan(plan))
    assert d1.exists()
    _, fin = run(A.apply_plan(plan, allow_permanent=True))
    assert fin.done == 1 and not d1.exists()
    with pytest.raises(A.NothingToDo):
        list(A.undo())
    outs, _ = run(A.undo(fin.batch_id))
    assert outs[0].outcome == "not-undoable"


def test_redo_reapplies_an_undone_batch(env: Path) -> None:
    tree = env / "tree"
    k, d1, d2 = make_tree(tree)
    _, fin = run(A.apply_plan(A.build_plan([group(1, k, d1, d2)], "quarantine")))
    run(A.undo())
    assert d1.exists()
    _, rfin = run(A.redo())
    assert rfin.done == 2 and not d1.exists() and rfin.phase == "redo"
    states = {b.id: b.state for b in A.history()}
    assert states[fin.batch_id] == "redone"
    run(A.undo())
    assert d1.exists() and d2.exists()


def test_history_stats_and_csv(env: Path) -> None:
    tree = env / "tree"
    k, d1, d2 = make_tree(tree)
    g = group(1, k, d1, d2)
    plan = A.build_plan(
        [g, group(2, env / "tree" / "a" / "keep.jpg")], "trash", suggested={1: str(k), 2: str(d1)}
    )
    _, fin = run(A.apply_plan(plan))
    hist = A.history()
    assert hist[0].id == fin.batch_id and hist[0].counts == {"done": 2}
    rep = A.compute_stats()
    assert rep.files == 2 and rep.bytes_freed == 2 * k.stat().st_size
    assert rep.reviewed == 2 and rep.agreed == 1 and rep.agreement == 0.5
    csv_text = (env / "data" / "stats.csv").read_text().splitlines()
    assert csv_text[0].startswith("time,batch") and fin.batch_id in csv_text[1]
    run(A.undo())
    assert A.compute_stats().files == 0


def test_plan_json_round_trip(env: Path, tmp_path: Path) -> None:
    tree = env / "tree"
    k, d1, d2 = make_tree(tree)
    plan = A.build_plan(
        [group(1, k, d1, d2)],
        "shrink",
        shrink=A.ShrinkOptions(quality=50, max_size=(10, 10), min_bytes=1),
    )
    A.save_plan(plan, tmp_path / "p.json")
    again = A.load_plan(tmp_path / "p.json")
    assert again == plan
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(A.UsageError):
        A.load_plan(tmp_path / "bad.json")


def _jpeg(path: Path, size: tuple[int, int] = (64, 48)) -> None:
    from PIL import Image

    img = Image.new("RGB", size)
    for x in range(size[0]):
        for y in range(size[1]):
            img.putpixel((x, y), (x * 4 % 256, y * 5 % 256, (x * y) % 256))
    img.save(path, quality=98)


@pytest.mark.parametrize("replace", [False, True])
def test_shrink_and_undo(env: Path, replace: bool) -> None:
    from PIL import Image

    tree = env / "tree"
    tree.mkdir()
    k, d = tree / "k.jpg", tree / "d.jpg"
    _jpeg(k)
    _jpeg(d)
    before = snapshot(tree)
    opts = A.ShrinkOptions(quality=30, max_size=(32, 32), replace=replace)
    plan = A.build_plan([group(1, k, d)], "shrink", shrink=opts)
    items, fin = run(A.apply_plan(plan))
    assert fin.done == 1, items
    out = d if replace else tree / "d.small.jpg"
    with Image.open(out) as im:
        assert im.size == (32, 24)  # aspect ratio kept
    assert out.stat().st_size < len(before["d.jpg"])
    if replace:
        assert Path(items[0].dest).read_bytes() == before["d.jpg"]  # original in the trash
    run(A.undo())
    assert snapshot(tree) == before


def test_shrink_min_bytes(env: Path) -> None:
    tree = env / "tree"
    tree.mkdir()
    k, d = tree / "k.jpg", tree / "d.jpg"
    _jpeg(k)
    _jpeg(d)
    plan = A.build_plan([group(1, k, d)], "shrink", shrink=A.ShrinkOptions(min_bytes=10**9))
    assert not plan.items and "--min-bytes" in plan.refused[0].reason


def test_export_folder_and_zip(env: Path) -> None:
    import zipfile

    tree = env / "tree"
    k, d1, d2 = make_tree(tree)
    lone = tree / "a" / "lone.jpg"
    lone.write_bytes(b"alone")
    before = snapshot(tree)
    g1 = group(1, k, d1)
    g2 = group(2, d2)
    paths = A.kept_set([g1, g2], {1: [str(k)]}, [str(lone), str(k)])
    assert paths == [str(k), str(d2), str(lone)]
    res = A.export_kept(paths, env / "out")
    assert res.files == 3 and (env / "out" / "a" / "keep.jpg").read_bytes() == before["a/keep.jpg"]
    assert (env / "out" / "b" / "c" / "dup.jpg").exists()
    res = A.export_kept(paths, env / "out.zip", as_zip=True)
    with zipfile.ZipFile(env / "out.zip") as zf:
        assert sorted(zf.namelist()) == ["a/keep.jpg", "a/lone.jpg", "b/c/dup.jpg"]
    with pytest.raises(A.UsageError):
        A.export_kept(paths, env / "out.zip", as_zip=True)
    assert snapshot(tree) == before  # originals untouched


def test_quarantine_list_and_empty(env: Path) -> None:
    tree = env / "tree"
    k, d1, d2 = make_tree(tree)
    run(A.apply_plan(A.build_plan([group(1, k, d1, d2)], "quarantine")))
    assert len(A.quarantine_contents()) == 2
    res = A.empty_quarantine()
    assert (res.files, res.bytes, res.skipped) == (2, 2 * k.stat().st_size, ())
    assert A.quarantine_contents() == []
    with pytest.raises(A.NothingToDo):
        list(A.undo())


def test_quarantine_empty_rechecks_each_file(env: Path) -> None:
    """Only the files the journal put in quarantine are deleted: a file edited there, one
    swapped for a symlink, and one replaced by an identical copy (another inode) stay."""
    tree = env / "tree"
    k = tree / "keep.jpg"
    tree.mkdir()
    k.write_bytes(b"same bytes " * 100)
    dups = []
    for i in range(4):
        d = tree / f"dup{i}.jpg"
        d.write_bytes(k.read_bytes())
        dups.append(d)
    run(A.apply_plan(A.build_plan([group(1, k, *dups)], "quarantine")))
    recs = {Path(r.source).name: Path(r.dest) for r in A.quarantine_contents()}
    assert len(recs) == 4
    edited, linked, copied, kept = (recs[f"dup{i}.jpg"] for i in range(4))
    st = edited.stat()
    edited.write_bytes(b"SAME bytes " * 100)  # same size and mtime, other content
    os.utime(edited, ns=(st.st_atime_ns, st.st_mtime_ns))
    linked.unlink()
    linked.symlink_to(k)
    other = copied.with_name("other")
    other.write_bytes(copied.read_bytes())  # created while the old inode still exists
    st = copied.stat()
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(other, copied)
    res = A.empty_quarantine()
    assert res.files == 1 and not kept.exists()
    reasons = dict(res.skipped)
    assert set(reasons) == {str(edited), str(linked), str(copied)}
    assert "content changed" in reasons[str(edited)]
    assert "regular file" in reasons[str(linked)]
    assert "inode" in reasons[str(copied)]
    assert edited.exists() and linked.is_symlink() and copied.exists()
    assert k.read_bytes() == b"same bytes " * 100


def test_cancel_stops_and_journals_the_rest(env: Path) -> None:
    import threading

    tree = env / "tree"
    tree.mkdir()
    k = tree / "k"
    k.write_bytes(b"x")
    dups = []
    for i in range(150):
        p = tree / f"d{i}"
        p.write_bytes(b"x")
        dups.append(p)
    cancel = threading.Event()
    done = 0
    gen = A.apply_plan(A.build_plan([group(1, k, *dups)], "quarantine"), cancel=cancel)
    for ev in gen:
        if isinstance(ev, A.ItemOutcome):
            done += 1
            if done == 10:
                cancel.set()
        last = ev
    assert isinstance(last, A.BatchFinished) and last.cancelled
    assert sum(p.exists() for p in dups) == 150 - last.done
    with A.Journal() as j:
        states = {r.state for r in j.items(last.batch_id)}
    assert states <= {"done", "not-done"}
    run(A.undo())
    assert all(p.exists() for p in dups)


# -- crash settling: each half-done state an operation can leave behind -----------------------
def _started(env: Path, op: str, n: int = 1) -> tuple[A.Plan, Path, list[Path]]:
    tree = env / "tree"
    k, d1, d2 = make_tree(tree)
    return A.build_plan([group(1, k, d1, d2)], op), k, [d1, d2]


def _crash_after(monkeypatch: pytest.MonkeyPatch, target, name: str, after: int) -> None:
    """Make ``target.name`` die with SystemExit on its ``after``-th call (a stand-in for a
    kill at that instant; apply's own cleanup is bypassed by re-raising a BaseException)."""
    real = getattr(target, name)
    calls = {"n": 0}

    def wrapper(*a, **kw):
        calls["n"] += 1
        if calls["n"] == after:
            raise _Killed
        return real(*a, **kw)

    monkeypatch.setattr(target, name, wrapper)


class _Killed(BaseException):
    pass


@pytest.mark.parametrize(
    "op,target,name,after",
    [
        ("hardlink", os, "link", 2),  # after the temp rename of the 2nd file
        ("symlink", os, "unlink", 1),  # link made, temp not yet removed
        ("trash", fsutil, "move_file", 2),  # trashinfo written, file not moved
        ("quarantine", os, "unlink", 1),  # cross-device copy made, original not removed
    ],
)
def test_kill_mid_operation_is_settled_and_undone(
    env: Path, monkeypatch: pytest.MonkeyPatch, op: str, target, name: str, after: int
) -> None:
    tree = env / "tree"
    plan, k, dups = _started(env, op)
    before = snapshot(tree)
    if op == "quarantine":
        monkeypatch.setattr(
            fsutil, "rename_noclobber", _exdev_rename(fsutil.rename_noclobber, env / "data")
        )
    _crash_after(monkeypatch, target, name, after)
    with pytest.raises(_Killed):
        list(A.apply_plan(plan))
    monkeypatch.undo()
    monkeypatch.setenv("LOOKALIKE_DATA_DIR", str(env / "data"))
    monkeypatch.setenv("XDG_DATA_HOME", str(env / "xdg"))
    with A.Journal() as j:
        states = [r.state for r in j.items(plan.id)]
    assert states.count("done") + states.count("not-done") == 2, states  # settled at once
    run(A.undo()) if "done" in states else None
    assert snapshot(tree) == before


def test_interrupted_batch_reported_and_settled(env: Path) -> None:
    """A batch left ``running`` with a ``started`` row (as after SIGKILL) is reported file by
    file, settled from the disk, never redone, and undo rolls back the done part."""
    tree = env / "tree"
    k, d1, d2 = make_tree(tree)
    before = snapshot(tree)
    plan = A.build_plan([group(1, k, d1, d2)], "quarantine")
    ctx = ops.Ctx(plan.id)
    with A.Journal() as j:
        j.begin_batch(plan.id, "quarantine", [i.to_json() for i in plan.items])
        dest, detail = ops.prepare(plan.items[0], ctx)
        j.set_item(plan.id, 0, jn.STARTED, dest=dest, detail=detail)
        ops.perform(plan.items[0], dest, detail, ctx)  # the process dies before "done"
    rep = A.pending_recovery()
    assert len(rep.batches) == 1
    b = rep.batches[0]
    assert (b.done, b.not_done) == (1, 1)
    assert b.items[0].done and "moved to" in b.items[0].message
    assert not b.items[1].done and "untouched" in b.items[1].message
    assert not d1.exists()  # reporting changes nothing
    outs, fin = run(A.undo())
    assert fin.done == 1 and snapshot(tree) == before
    assert A.pending_recovery().batches == ()
    assert {b.id: b.state for b in A.history()}[plan.id] == "undone"


def test_journal_busy(env: Path) -> None:
    from lookalike.engine.actions.journal import journal_lock

    tree = env / "tree"
    k, d1, _ = make_tree(tree)
    plan = A.build_plan([group(1, k, d1)], "trash")
    with journal_lock(), pytest.raises(A.JournalBusy):
        list(A.apply_plan(plan))
    assert d1.exists()


def test_with_real_fsync(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The durable path (fsync of files, folders and the journal) works too."""
    monkeypatch.delenv("LOOKALIKE_NO_FSYNC")
    tree = env / "tree"
    k, d1, d2 = make_tree(tree)
    before = snapshot(tree)
    q = env / "otherfs"
    monkeypatch.setattr(fsutil, "rename_noclobber", _exdev_rename(fsutil.rename_noclobber, q))
    _, fin = run(A.apply_plan(A.build_plan([group(1, k, d1)], f"move:{q}")))
    _, fin2 = run(A.apply_plan(A.build_plan([group(1, k, d2)], "symlink")))
    assert fin.done == fin2.done == 1
    run(A.undo())
    run(A.undo())
    assert snapshot(tree) == before


@pytest.mark.parametrize("stage", ["original-in-trash", "replaced"])
def test_shrink_replace_killed_midway(env: Path, stage: str) -> None:
    """A kill between the steps of an in-place shrink: settling puts the original back (or
    counts the shrink as done), and undo restores the original bytes either way."""
    tree = env / "tree"
    tree.mkdir()
    k, d = tree / "k.jpg", tree / "d.jpg"
    _jpeg(k)
    _jpeg(d)
    before = snapshot(tree)
    opts = A.ShrinkOptions(quality=20, replace=True)
    plan = A.build_plan([group(1, k, d)], "shrink", shrink=opts)
    item = plan.items[0]
    ctx = ops.Ctx(plan.id, opts)
    with A.Journal() as j:
        j.begin_batch(plan.id, "shrink", [i.to_json() for i in plan.items])
        dest, detail = ops.prepare(item, ctx)
        j.set_item(plan.id, 0, jn.STARTED, dest=dest, detail=detail)
    ops.shrink_image(str(d), detail["part"], opts)
    trash.write_info(detail["info"], str(d), detail["topdir"])
    os.rename(d, dest)
    if stage == "replaced":
        os.rename(detail["part"], d)
    # the process dies here
    rep = A.settle_pending()
    assert rep.batches[0].items[0].done == (stage == "replaced")
    assert not Path(detail["part"]).exists()
    if stage == "original-in-trash":
        assert snapshot(tree) == before and not Path(detail["info"]).exists()
        with pytest.raises(A.NothingToDo):
            list(A.undo())
    else:
        assert d.read_bytes() != before["d.jpg"]
        run(A.undo())
        assert snapshot(tree) == before
