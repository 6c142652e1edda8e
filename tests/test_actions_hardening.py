"""File-system hardening of the action layer: the journal (BLOB paths, v1 migration, damaged
file), no-clobber renames, freedesktop trash folder checks, orphan ``.trashinfo`` files after
a crash or a full disk."""

from __future__ import annotations

import errno
import hashlib
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from lookalike.engine import actions as A
from lookalike.engine.actions import fsutil, trash
from lookalike.engine.actions import journal as jn
from lookalike.engine.records import Group, Member


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOOKALIKE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LOOKALIKE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("LOOKALIKE_NO_FSYNC", "1")
    monkeypatch.delenv("LOOKALIKE_JOURNAL", raising=False)
    return tmp_path


def pair(root: Path, name: str = "dup.jpg") -> Group:
    root.mkdir(parents=True, exist_ok=True)
    k, d = root / "keep.jpg", root / name
    for p in (k, d):
        p.write_bytes(b"same bytes " * 50)
    members = tuple(
        Member(str(p), p.stat().st_size, 1, 1, "JPEG", 1.0, mtime_ns=p.stat().st_mtime_ns)
        for p in (k, d)
    )
    return Group(1, "exact", str(k), "test", members)


def cli(*args: str) -> tuple[int, str, str]:
    from lookalike.cli import main

    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.stdout, r.stderr


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- journal ----------------------------------------------------------------------------------
def test_journal_stores_paths_as_blobs(env: Path) -> None:
    g = pair(env / "t", os.fsdecode(b"bad\xff.jpg"))
    fin = list(A.apply_plan(A.build_plan([g], "trash")))[-1]
    db = sqlite3.connect(env / "data" / "journal.sqlite")
    src, dest, typ = db.execute("SELECT source, dest, typeof(source) FROM items").fetchone()
    assert typ == "blob" and src.endswith(b"/bad\xff.jpg") and dest.endswith(b"bad\xff.jpg")
    assert A.batch_items(fin.batch_id)[0].source == str(env / "t") + "/bad\udcff.jpg"


def test_version_1_journal_is_migrated_and_still_undoes(env: Path) -> None:
    """A journal written before paths were bytes (TEXT columns, user_version 1) opens, keeps
    every row readable, and its batches can still be undone."""
    g = pair(env / "t")
    before = {p: Path(p).read_bytes() for p in (m.path for m in g.members)}
    fin = list(A.apply_plan(A.build_plan([g], "trash")))[-1]
    path = env / "data" / "journal.sqlite"
    db = sqlite3.connect(path)  # turn it back into the version-1 layout
    db.executescript(
        """
        ALTER TABLE items RENAME TO items_new;
        CREATE TABLE items(batch TEXT NOT NULL, seq INTEGER NOT NULL, group_id INTEGER,
          op TEXT NOT NULL, source TEXT NOT NULL, dest TEXT, keeper TEXT, size INTEGER,
          mtime_ns INTEGER, hash TEXT, state TEXT NOT NULL, detail TEXT, error TEXT,
          updated REAL, PRIMARY KEY(batch, seq));
        INSERT INTO items SELECT batch, seq, group_id, op, CAST(source AS TEXT),
          CAST(dest AS TEXT), CAST(keeper AS TEXT), size, mtime_ns, hash, state, detail, error,
          updated FROM items_new;
        DROP TABLE items_new;
        UPDATE batches SET action = CAST(action AS TEXT);
        PRAGMA user_version=1;
        """
    )
    assert db.execute("SELECT typeof(source) FROM items").fetchone() == ("text",)
    db.close()
    with A.Journal(path) as j:
        assert j.db.execute("PRAGMA user_version").fetchone()[0] == jn.SCHEMA_VERSION
        assert j.db.execute("SELECT typeof(source) FROM items").fetchone()[0] == "blob"
        indexes = {r[0] for r in j.db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert {"items_state", "items_purging"} <= indexes
        (rec,) = j.items(fin.batch_id)
    assert rec.source == g.members[1].path and rec.state == "done"
    list(A.undo())
    assert {p: Path(p).read_bytes() for p in before} == before


def test_damaged_journal_is_never_written_and_the_hint_works(env: Path) -> None:
    g = pair(env / "t")
    list(A.apply_plan(A.build_plan([g], "trash")))
    path = env / "data" / "journal.sqlite"
    for p in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        assert not p.exists()  # checkpointed on close: the main file holds everything
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for start in range(page, len(data), page):  # garbage over every page header but the first
        data[start : start + 64] = bytes(range(200, 255)) + bytes(9)
    path.write_bytes(bytes(data))
    digest = sha(path)
    for args in (["history"], ["undo", "--yes"], ["stats"], ["quarantine", "list"]):
        code, out, err = cli(*args)
        assert code == 5, (args, code, out, err)
        assert "damaged" in err and "nothing was written" in err, err
        assert "internal error" not in err and "Traceback" not in err
        assert err.count("is damaged (") == 1  # said once, not once per layer
        assert sha(path) == digest  # never written, never discarded
    hint = err.split("a new journal): ")[1].strip()
    assert hint.startswith("mv ")
    subprocess.run(hint, shell=True, check=True)  # the command the message gives works
    assert not path.exists() and list(path.parent.glob("journal.sqlite.damaged-*"))
    code, out, err = cli("history")
    assert code == 0, err


def test_full_disk_under_the_journal_is_one_clear_error(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite reports the disk full (a page limit stands in for it): the command stops with
    exit 5 and says what to do; no file is touched; afterwards everything works."""
    groups = [pair(env / "t" / str(i)) for i in range(200)]
    plan = A.build_plan(groups, "trash")
    plan_file = env / "plan.json"
    A.save_plan(plan, plan_file)
    list(A.history())  # the journal exists, with its tables
    A.Journal().close()
    real_init = jn.Journal.__init__

    def tiny(self: jn.Journal, *a: object, **k: object) -> None:
        real_init(self, *a, **k)
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        self.db.execute(f"PRAGMA max_page_count={pages + 1}")

    monkeypatch.setattr(jn.Journal, "__init__", tiny)
    code, out, err = cli("apply", str(plan_file), "--yes")
    assert code == 5, (code, out, err)
    assert "cannot write the journal" in err and "free some space" in err, err
    assert "internal error" not in err
    assert all(Path(g.members[1].path).exists() for g in groups)
    assert not list((env / "xdg" / "Trash" / "files").glob("*"))
    monkeypatch.setattr(jn.Journal, "__init__", real_init)
    code, out, err = cli("history")
    assert code == 0 and "interrupted" not in err, err
    code, out, err = cli("apply", str(plan_file), "--yes")
    assert code == 0, err


# -- renames ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kernel", [True, False], ids=["renameat2", "link-unlink"])
def test_rename_noclobber_never_replaces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel: bool
) -> None:
    if not kernel:
        monkeypatch.setattr(fsutil, "_renameat2", False)
    elif not fsutil._libc_renameat2():
        pytest.skip("libc has no renameat2")
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"A")
    b.write_bytes(b"B")
    with pytest.raises(FileExistsError):
        fsutil.rename_noclobber(str(a), str(b))
    assert a.read_bytes() == b"A" and b.read_bytes() == b"B"
    fsutil.rename_noclobber(str(a), str(tmp_path / "c"))
    assert not a.exists() and (tmp_path / "c").read_bytes() == b"A"
    link = tmp_path / "l"
    link.symlink_to("nowhere")  # a dangling symlink is moved as a link, not followed
    fsutil.rename_noclobber(str(link), str(tmp_path / "l2"))
    assert os.readlink(tmp_path / "l2") == "nowhere"


def test_long_names_get_short_enough_suffixes(tmp_path: Path) -> None:
    name = "é" * 125 + ".jpg"  # 254 bytes
    p = tmp_path / name
    p.write_bytes(b"x")
    other = fsutil.unique_path(str(p))
    assert len(os.fsencode(os.path.basename(other))) <= 255 and other.endswith("~1.jpg")
    Path(other).write_bytes(b"y")  # the name really works
    part = fsutil.part_path(str(p), "20261125-000000-abcd-999")
    Path(part).write_bytes(b"z")
    assert os.fsdecode(os.fsencode(other)) == other  # cut at a character boundary


# -- trash folders (freedesktop rules) ----------------------------------------------------------
@pytest.fixture
def other_fs(env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Pretend ``env/top`` is another filesystem mounted at ``env/top``."""
    top = env / "top"
    top.mkdir()
    real = fsutil.device_of
    monkeypatch.setattr(
        fsutil, "device_of", lambda p: real(p) + (1 if str(p).startswith(str(top)) else 0)
    )
    monkeypatch.setattr(fsutil, "mount_point", lambda p: str(top))
    return top


def test_admin_trash_needs_sticky_bit_and_no_symlink(other_fs: Path) -> None:
    uid = os.getuid()
    admin = other_fs / ".Trash"
    admin.mkdir()
    admin.chmod(0o777)  # no sticky bit: must not be used
    assert trash.trash_for(str(other_fs / "x.jpg")).root == str(other_fs / f".Trash-{uid}")
    admin.chmod(0o1777)
    assert trash.trash_for(str(other_fs / "x.jpg")).root == str(admin / str(uid))
    admin.rename(other_fs / "real-trash")
    admin.symlink_to(other_fs / "real-trash")  # a symlink to a sticky folder: not used
    assert trash.trash_for(str(other_fs / "x.jpg")).root == str(other_fs / f".Trash-{uid}")


def test_user_topdir_trash_is_created_0700(other_fs: Path) -> None:
    can = trash.trash_for(str(other_fs / "x.jpg"))
    assert can.root == str(other_fs / f".Trash-{os.getuid()}")
    for d in (can.root, can.files, can.info):
        st = os.lstat(d)
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700


def test_symlinked_topdir_trash_is_refused_and_home_trash_used(env: Path, other_fs: Path) -> None:
    elsewhere = env / "elsewhere"
    elsewhere.mkdir()
    (other_fs / f".Trash-{os.getuid()}").symlink_to(elsewhere)
    g = pair(other_fs / "t")
    items = [e for e in A.apply_plan(A.build_plan([g], "trash")) if isinstance(e, A.ItemOutcome)]
    assert items[0].outcome == "done"
    assert Path(items[0].dest).parent == env / "xdg" / "Trash" / "files"  # copied home
    assert not list(elsewhere.rglob("*"))  # nothing went through the symlink
    list(A.undo())
    assert Path(g.members[1].path).exists()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to make a folder another user owns")
def test_topdir_trash_of_another_user_is_refused(env: Path, other_fs: Path) -> None:
    can = other_fs / f".Trash-{os.getuid()}"
    can.mkdir(mode=0o700)
    os.chown(can, 4321, 4321)
    assert trash.trash_for(str(other_fs / "x.jpg")).root == str(env / "xdg" / "Trash")


def test_no_safe_trash_at_all_is_a_clear_failure(env: Path, other_fs: Path) -> None:
    (env / "xdg").mkdir()
    (env / "elsewhere").mkdir()
    (env / "xdg" / "Trash").symlink_to(env / "elsewhere")
    (other_fs / f".Trash-{os.getuid()}").symlink_to(env / "elsewhere")
    g = pair(other_fs / "t")
    items = [e for e in A.apply_plan(A.build_plan([g], "trash")) if isinstance(e, A.ItemOutcome)]
    assert items[0].outcome == "failed"
    msg = items[0].message
    assert "symbolic link" in msg and "--action quarantine" in msg, msg
    assert Path(g.members[1].path).exists() and not list((env / "elsewhere").rglob("*"))


# -- .trashinfo: bytes, atomic, no orphans -------------------------------------------------------
def test_trashinfo_path_is_percent_encoded_bytes(env: Path) -> None:
    raw = os.fsencode(env) + b"/t/n\xe9w\nline %.jpg"
    os.makedirs(os.path.dirname(raw), exist_ok=True)
    body = trash.info_body(os.fsdecode(raw), None)
    assert body.startswith(b"[Trash Info]\nPath=/") and b"\nDeletionDate=" in body
    assert b"/t/n%E9w%0Aline%20%25.jpg\n" in body  # RFC 3986 of the raw bytes
    info = env / "x.trashinfo"
    info.write_bytes(body)
    assert trash.read_info(str(info))[0] == os.fsdecode(raw)


def test_full_disk_while_writing_trashinfo_leaves_nothing(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = pair(env / "t")
    real_write = os.write

    def full(fd: int, data: bytes) -> int:
        if b"[Trash Info]" in bytes(data):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full)
    items = [e for e in A.apply_plan(A.build_plan([g], "trash")) if isinstance(e, A.ItemOutcome)]
    assert items[0].outcome == "failed" and "disk full" in items[0].message
    assert Path(g.members[1].path).exists()
    assert not list((env / "xdg" / "Trash" / "info").iterdir())


def test_full_disk_while_moving_to_trash_leaves_no_trashinfo(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = pair(env / "t")

    def full(*a: object, **k: object) -> bool:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fsutil, "move_file", full)
    items = [e for e in A.apply_plan(A.build_plan([g], "trash")) if isinstance(e, A.ItemOutcome)]
    assert items[0].outcome == "failed" and "disk full" in items[0].message
    assert not list((env / "xdg" / "Trash" / "info").iterdir())


def test_empty_trashinfo_from_a_kill_is_removed_by_recovery(env: Path) -> None:
    """SIGKILL between creating the .trashinfo (O_EXCL) and writing it: the next command's
    settling removes the empty file; the duplicate never moved."""
    g = pair(env / "t")
    plan = A.build_plan([g], "trash")
    can = trash.home_trash()
    can.ensure()
    files = trash.reserve_name(can, plan.items[0].source)
    info = trash.info_path_for(files)
    with A.Journal() as j:
        j.begin_batch(plan.id, "trash", [i.to_json() for i in plan.items])
        j.set_item(plan.id, 0, jn.STARTED, dest=files, detail={"info": info, "topdir": None})
    Path(info).write_bytes(b"")
    assert A.pending_recovery().batches[0].id == plan.id
    A.settle_pending()
    assert not os.path.exists(info) and Path(plan.items[0].source).exists()


CRASH_IN_UNDO = r"""
import os, sys
from lookalike.engine.actions import operations as ops

real = ops._unlink_quiet

def die_at_trashinfo(path):
    if path and path.endswith(".trashinfo"):
        os._exit(9)  # as SIGKILL: no cleanup, no finally
    real(path)

ops._unlink_quiet = die_at_trashinfo
from lookalike.engine import actions as A
for _ in A.undo():
    pass
"""


def test_kill_during_undo_before_trashinfo_removal(env: Path) -> None:
    """The undo dies after moving the file back, before removing its .trashinfo: the next
    `lookalike undo` finishes it (exit 0, says so), and no .trashinfo is left behind."""
    g = pair(env / "t")
    list(A.apply_plan(A.build_plan([g], "trash")))
    info_dir = env / "xdg" / "Trash" / "info"
    assert len(list(info_dir.iterdir())) == 1
    r = subprocess.run([sys.executable, "-c", CRASH_IN_UNDO], env=os.environ, timeout=120)
    assert r.returncode == 9
    assert Path(g.members[1].path).exists() and len(list(info_dir.iterdir())) == 1
    code, out, err = cli("undo", "--yes")
    assert code == 0, (out, err)
    assert "interrupted undo" in out and "finished" in out
    assert not list(info_dir.iterdir())
    assert {b.state for b in A.history()} == {"undone"}
    code, out, err = cli("undo", "--yes")
    assert code == 6 and "nothing to undo" in err  # documented: docs/actions.md exit codes
