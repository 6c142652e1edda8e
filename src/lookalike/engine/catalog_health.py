"""The catalog's health: one clear error for anything SQLite says, and a read-only
``quick_check`` before the first write, so a damaged file is never written to and the message
names the command that sets it aside (the catalog is only a cache: the next scan rebuilds it)."""

from __future__ import annotations

import contextlib
import os
import shlex
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: threads still take turns; processes rely on the WAL retry
    fcntl = None  # type: ignore[assignment]

BUSY_TIMEOUT = 30.0  # seconds a connection waits for another writer (SQLite busy_timeout)


class CatalogError(Exception):
    """The catalog cannot be opened or is from an incompatible version."""


class CatalogDamaged(CatalogError):
    """The catalog file is malformed; it is never written, and the message says how to recover."""


def recover_hint(path: Path) -> str:
    """The command that sets a damaged catalog aside (the next scan builds a new one)."""
    q = shlex.quote(str(path))
    return f"mv {q} {shlex.quote(str(path) + '.bad')}"


def damaged(path: Path, detail: str) -> CatalogDamaged:
    return CatalogDamaged(
        f"the catalog {path} is damaged ({detail}); nothing was written to it. It only caches "
        f"what scans found, so set it aside and scan again: {recover_hint(path)}"
    )


def catalog_error(path: Path, exc: sqlite3.Error) -> CatalogError:
    """One clear message for an SQLite error met while using the catalog."""
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
        return CatalogError(
            f"the catalog {path} stayed locked by another lookalike for {BUSY_TIMEOUT:.0f} s "
            "(database is locked); close the other program or pass --db to use another file"
        )
    if isinstance(exc, sqlite3.DatabaseError) and any(
        w in text for w in ("malformed", "not a database", "corrupt", "disk image")
    ):
        return damaged(path, text)
    return CatalogError(f"cannot use the catalog {path}: {text}; pass --db to use another file")


_OPENING: dict[str, threading.Lock] = {}
_OPENING_GUARD = threading.Lock()


@contextlib.contextmanager
def opening(path: Path) -> Iterator[None]:
    """Hold while opening ``path``: one opener at a time sets up a file that does not exist yet.

    Why: two threads opening a catalog that does not exist yet raced — one saw no file, the
    other created it in WAL mode, and the first then unlinked the live ``-shm`` (and renamed a
    ``-wal``) as a moved-away catalog's orphans; both also inserted the schema row. The app's
    first loads run beside the scan it starts, so the scan failed with "database is locked"
    after 30 s (or the WAL it wrote was set aside). Two *processes* creating one catalog (two
    scans started together on a new catalog, the app beside ``serve``) raced the same way, and
    one failed at once on ``journal_mode=WAL`` (53 of 100 rounds of three processes): they take
    turns through a lock on the folder, held only while the file is new.
    """
    key = os.path.realpath(path)
    with _OPENING_GUARD:
        lock = _OPENING.setdefault(key, threading.Lock())
    with lock, _creating(Path(path)):
        yield


@contextlib.contextmanager
def _creating(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path``'s folder while ``path`` does not exist (POSIX only).

    The folder, not a lock file beside the catalog: nothing new is left on disk, and opening
    an existing catalog (the common case, maybe a long ``quick_check``) takes no lock at all."""
    if fcntl is None or path.exists():
        yield
        return
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)  # the opener reports what fails here
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def wal_mode(db: sqlite3.Connection, timeout: float = BUSY_TIMEOUT) -> None:
    """``PRAGMA journal_mode=WAL``, waiting up to ``timeout`` for another connection's lock.

    SQLite does not call the busy handler for this pragma: a connection switching a file
    another process was setting up got "database is locked" at once, not after the timeout."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


_CHECKED: set[tuple[str, int, int]] = set()  # (path, dev, inode) found sound by this process


def read_only_uri(path: Path | str) -> str:
    """SQLite's URI for opening ``path`` read-only; its bytes quoted, so any name a file
    system allows (a non-UTF-8 one too) opens."""
    return "file:" + urllib.parse.quote(os.fsencode(os.path.abspath(path))) + "?mode=ro"


def _quick_check(path: Path) -> None:
    """``PRAGMA quick_check`` on a read-only connection, once per file per process.

    Runs before any write (even ``journal_mode=WAL`` writes the header), so a malformed file
    is left byte for byte as it was.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise CatalogError(
            f"cannot open the catalog {path}: {exc.strerror or exc}; pass --db to use another file"
        ) from exc
    key = (str(path), st.st_dev, st.st_ino)
    if key in _CHECKED or st.st_size == 0:
        return
    try:
        con = sqlite3.connect(read_only_uri(path), uri=True, timeout=BUSY_TIMEOUT)
    except sqlite3.Error as exc:
        raise catalog_error(path, exc) from exc
    try:
        rows = con.execute("PRAGMA quick_check").fetchall()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc):
            raise catalog_error(path, exc) from exc
        rows = [(str(exc),)]
    except sqlite3.DatabaseError as exc:
        rows = [(str(exc),)]
    finally:
        con.close()
    if rows != [("ok",)]:
        detail = "; ".join(str(r[0]) for r in rows[:3])
        raise damaged(path, f"SQLite quick_check: {detail}")
    _CHECKED.add(key)


CHECK_BEHIND_BYTES = 32 << 20  # a catalog this large is checked beside the walk (pipeline.py)


class CheckBehind:
    """``_quick_check`` of a large catalog in a thread while the scan walks its folders.

    Why: the check reads the whole file — 4.4 s of a 1 M rescan's 3.4 GB catalog, on the
    driver before the walk began (issue 13) — and SQLite runs it without the GIL, so beside
    the walk it costs the wall next to nothing. The scan opens the catalog (its first write)
    only after :meth:`wait`: a damaged file is still never written to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="lookalike-check", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            _quick_check(self.path)
        except BaseException as exc:  # noqa: BLE001 - raised again in the scan's thread
            self.error = exc

    def wait(self) -> None:
        """Return when the check passed; raise what it raised (``CatalogDamaged``…)."""
        self.thread.join()
        if self.error is not None:
            raise self.error


def check_behind(path: Path) -> CheckBehind | None:
    """The check of ``path`` started in a thread, or None when there is nothing to overlap:
    no file, a small one (its check is quick; a new catalog's first scan reads whether it
    has files before the walk), or one this process already found sound."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if st.st_size < CHECK_BEHIND_BYTES or (str(path), st.st_dev, st.st_ino) in _CHECKED:
        return None
    return CheckBehind(path)


def _set_aside_orphans(path: Path) -> None:
    """A new catalog must not pick up the WAL of one that was moved away (SQLite would replay
    the old pages into the new file). The shared-memory index is always rebuilt, so it goes;
    a WAL or journal with content is renamed, never deleted."""
    if path.exists():
        return
    for suffix in ("-shm", "-wal", "-journal"):
        stale = Path(str(path) + suffix)
        try:
            if suffix == "-shm" or stale.stat().st_size == 0:
                stale.unlink()
            else:
                os.replace(stale, Path(f"{path}.orphan{suffix}"))
        except OSError:
            pass


def connect(path: Path, schema: str) -> sqlite3.Connection:
    """The catalog's connection, set up: ``quick_check`` first (nothing written to a damaged
    file), a moved-away catalog's orphans set aside, WAL, the schema. Hold :func:`opening`."""
    _quick_check(path)
    _set_aside_orphans(path)
    try:
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
        db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
        wal_mode(db)
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.executescript(schema)
    except sqlite3.Error as exc:
        raise catalog_error(path, exc) from exc
    except OSError as exc:
        raise CatalogError(
            f"cannot open the catalog {path}: {exc}; pass --db to use another file"
        ) from exc
    return db
