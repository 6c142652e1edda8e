"""Threads opening a catalog (and the journal) that does not exist yet, all at once.

The app's first loads run beside the scan it starts, on the same new catalog: one opener took
the other's fresh ``-shm``/``-wal`` for a moved-away catalog's orphans, and both inserted the
schema row, so the scan failed with "database is locked" after 30 s. Before the fix about one
round in ten went wrong here.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from lookalike.engine.actions.journal import Journal
from lookalike.engine.catalog import Catalog

ROUNDS = 60


def _race(opener, path: Path, threads: int = 3) -> list[str]:
    errors: list[str] = []
    barrier = threading.Barrier(threads)

    def run(i: int) -> None:
        try:
            barrier.wait()
            opener(path, i)
        except Exception as exc:  # collected: the test says which went wrong
            errors.append(f"{type(exc).__name__}: {exc}")

    ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return errors


def _open_catalog(path: Path, i: int) -> None:
    with Catalog(path) as cat:
        if i == 0:
            cat.set_state("ui.recent", ["/photos"])
        else:
            cat.get_state("ui.recent", None)


def test_threads_opening_a_new_catalog_together(tmp_path: Path) -> None:
    for n in range(ROUNDS):
        path = tmp_path / f"r{n}" / "catalog.sqlite"
        errors = _race(_open_catalog, path)
        assert not errors, (n, errors)
        left = sorted(os.listdir(path.parent))
        assert not [f for f in left if "orphan" in f], left  # nothing live was set aside
        with Catalog(path) as cat:
            assert cat.get_state("ui.recent", None) == ["/photos"]
            rows = cat.db.execute("SELECT count(*) FROM meta WHERE key='schema'").fetchone()
            assert rows == (1,)


def _open_journal(path: Path, i: int) -> None:
    with Journal(path) as j:
        j.db.execute("SELECT count(*) FROM batches").fetchone()


def test_threads_opening_a_new_journal_together(tmp_path: Path) -> None:
    for n in range(ROUNDS):
        path = tmp_path / f"j{n}" / "journal.sqlite"
        assert not _race(_open_journal, path), n
