"""The journal's health: a read-only ``quick_check`` before anything writes to it, and the one
clear message (with the command that moves a damaged file aside, never deleting it) for a
journal SQLite refuses to write or reports as malformed."""

from __future__ import annotations

import os
import shlex
import sqlite3
import time
from pathlib import Path
from urllib.parse import quote

from lookalike.engine.actions.errors import JournalBusy, JournalError

_CHECKED: set[tuple] = set()


def check_journal(path: Path) -> None:
    """``PRAGMA quick_check`` on a read-only connection (it cannot write to the file), closed
    before any writing connection opens; skipped for a missing/empty file and when the file is
    unchanged (inode, size, mtime) since the last check in this process. Raises the
    :func:`damaged` error."""
    try:
        st = path.stat()
    except OSError:
        return
    if st.st_size == 0:
        return
    key = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
    if key in _CHECKED:
        return
    detail = ""
    try:
        ro = sqlite3.connect(f"file:{quote(os.fsencode(path.resolve()))}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise JournalError(
            f"cannot open the journal {path}: {exc}",
            "check the file's permissions or set LOOKALIKE_DATA_DIR",
        ) from None
    try:
        rows = [r[0] for r in ro.execute("PRAGMA quick_check(5)")]
        if rows != ["ok"]:
            detail = "; ".join(str(r) for r in rows)
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc):  # busy, not damaged: never tell a user to move it aside
            ro.close()
            raise JournalBusy(
                f"the journal {path} is locked by another lookalike ({exc})",
                "wait for it to finish (or stop it) and try again",
            ) from None
        detail = str(exc)
    except sqlite3.DatabaseError as exc:
        detail = str(exc)
    finally:
        ro.close()
    if detail:
        raise damaged(path, detail)  # built after closing: it names the files left on disk
    _CHECKED.add(key)


def write_failed(path: Path, exc: sqlite3.DatabaseError) -> JournalError:
    """The message for a journal write SQLite refused."""
    text = str(exc)
    if "full" in text:
        hint = "free some space on its filesystem, then run lookalike history"
    elif "readonly" in text or "read-only" in text:
        hint = "make it writable (or set LOOKALIKE_DATA_DIR), then run lookalike history"
    elif "malformed" in text or "not a database" in text:
        return damaged(path, text)
    else:
        hint = "check the file and its folder, then run lookalike history"
    return JournalError(
        f"cannot write the journal {path} ({text}); every file touched so far is recorded",
        hint + " (an interrupted batch is reported and settled from the disk)",
    )


def damaged(path: Path, detail: str) -> JournalError:
    """The message for a journal SQLite reports as malformed: nothing is written to it, and
    the hint is a command that moves it (and its WAL files) aside; it is never discarded."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    moves = [
        f"mv -n -- {shlex.quote(str(p))} {shlex.quote(f'{p}.damaged-{stamp}')}"
        for p in (path, Path(str(path) + "-wal"), Path(str(path) + "-shm"))
        if p.exists()
    ]
    return JournalError(
        f"the journal {path} is damaged ({detail}); nothing was written to it",
        "move it aside (it is kept: it holds the record of past batches; the next run starts "
        "a new journal): " + " && ".join(moves),
    )
