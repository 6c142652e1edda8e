"""Temporary files a killed scan left beside the catalog, removed at the next scan's start.

Why: the group stage's DCT column (disk_columns.py) and the model vectors (disk_vectors.py)
are written to ``CATALOG.<name>.f16.tmp<PID>`` and renamed when done; a scan killed midway
(SIGKILL, power cut) never renames or removes its file, and at 1 M files that is ≈ 1.5 GB
that nothing would ever delete. Only a scan writes them, and only while it holds the scan
lock (scanlock.py), so a scan holding the lock knows that no live scan of this catalog is
writing one. A file is removed when its PID is no running process, or when its name can only
be this catalog's (no other catalog's lock file beside it whose name extends this one's, such
as ``c.db.old`` beside ``c.db``: that catalog's live scan may be writing
``c.db.old.<model>.f16.tmp<PID>``, which reads as one of ours).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

TEMP = re.compile(r"^(?P<mid>.+)\.f16\.tmp(?P<pid>[0-9]+)$")


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a process of another user counts as running)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, OSError):
        return False
    return True


def _other_catalog(folder: Path, name: str, mid: str) -> bool:
    """Whether ``name.mid`` may be another catalog's file: a lock file ``name.P.lock`` exists
    beside it for a dotted prefix P of ``mid``."""
    parts = mid.split(".")
    return any(
        (folder / f"{name}.{'.'.join(parts[:k])}.lock").exists() for k in range(1, len(parts))
    )


def sweep(catalog: Path) -> list[str]:
    """Remove the stale ``CATALOG.*.f16.tmp<PID>`` files; the caller holds the scan lock.
    Returns one message per file that could not be removed (what to do included)."""
    if str(catalog) == ":memory:":
        return []
    folder, name = catalog.parent, catalog.name
    try:
        names = [e.name for e in os.scandir(folder) if e.name.startswith(name + ".")]
    except OSError:
        return []  # no folder yet (a first scan) or none to read: the catalog will say so
    problems = []
    for entry in names:
        m = TEMP.match(entry[len(name) + 1 :])
        if m is None:
            continue
        if pid_alive(int(m["pid"])) and _other_catalog(folder, name, m["mid"] + ".f16"):
            continue
        try:
            (folder / entry).unlink(missing_ok=True)
        except OSError as exc:
            problems.append(
                f"cannot remove {folder / entry}, a temporary file an interrupted scan left: "
                f"{exc.strerror or exc}; delete it by hand (the catalog does not need it)"
            )
    return problems
