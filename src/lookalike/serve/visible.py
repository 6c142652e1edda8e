"""What a client may see: groups and thumbnails of files under the server's roots only.

The catalog can also hold scans a person ran on the box outside the roots (the CLI shares it);
those groups, and their thumbnails, are not served. A stored group is shown only when every one
of its files lies under a root; a thumbnail only when it belongs to such a group or to a job's
result (jobs scan under the roots only). The stored review is read as the engine's columns and
pages (issue 13): no request decodes every group.
"""

from __future__ import annotations

import os
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from lookalike.engine import group_thumbs
from lookalike.engine.api import Engine
from lookalike.engine.catalog_groups import GroupFilter
from lookalike.engine.records import Group
from lookalike.engine.result_store import ResultError, ResultStore
from lookalike.serve.errors import ApiError
from lookalike.serve.jobs import JobManager
from lookalike.serve.scanargs import under_roots

RECENT_JOBS = 20  # done jobs whose thumbnails are served
STALE = 2.0  # seconds: an unknown key rebuilds the set at most this often (a CLI scan)
CHUNK = 500  # groups decoded at a time when every visible group is walked


class ReviewView:
    """The catalog's stored review less every group with a file outside the roots."""

    def __init__(self, engine: Engine, roots: tuple[str, ...]) -> None:
        self.engine, self.roots = engine, roots
        self._outside: tuple[tuple, np.ndarray] = ((), np.zeros(0, dtype=np.int32))

    def _stamp(self) -> tuple:
        """Changes whenever the catalog is written (its file or its WAL)."""
        out = []
        for suffix in ("", "-wal"):
            try:
                st = os.stat(f"{self.engine.catalog_path}{suffix}")
                out.append((st.st_mtime_ns, st.st_size))
            except OSError:
                out.append(None)
        return tuple(out)

    def outside(self) -> np.ndarray:
        """Ords of stored groups with a member outside the roots (a realpath per file, so
        kept until the catalog changes)."""
        stamp = self._stamp()
        if stamp != self._outside[0]:
            ords = self.engine.group_ords_with(_outside_test(self.roots))
            self._outside = (stamp, ords)
        return self._outside[1]

    def ords(
        self, flt: GroupFilter | None = None, sort: str = "order", show_hidden: bool = False
    ) -> np.ndarray:
        """The visible groups' ords in view order (``Engine.group_columns``)."""
        ords = self.engine.group_columns(flt, sort, show_hidden)
        out = self.outside()
        return ords[~np.isin(ords, out)] if len(out) else ords

    def page(self, ords: Sequence[int], show_hidden: bool = False) -> list[Group]:
        """These groups (``Engine.group_page``); one outside the roots is left out."""
        out = set(self.outside().tolist())
        return self.engine.group_page([o for o in ords if o not in out], show_hidden)

    def groups_with_ids(self, group_ids: Iterable[int]) -> list[Group]:
        """The visible groups with these ids (ord + 1), in review order, decoded ``CHUNK``
        at a time: a review plan reads the groups it acts on, not every group."""
        ords = sorted({int(i) - 1 for i in group_ids if int(i) >= 1})
        return [g for i in range(0, len(ords), CHUNK) for g in self.page(ords[i : i + CHUNK])]

    def groups(self) -> Iterator[Group]:
        """Every visible group in review order, decoded ``CHUNK`` at a time."""
        ords = self.ords()
        for i in range(0, len(ords), CHUNK):
            yield from self.engine.group_page(ords[i : i + CHUNK].tolist())

    def stamp(self) -> tuple:
        """Changes when the stored review does (a plan reads it once: plan_walk.py)."""
        from lookalike.engine.actions.plan_walk import review_stamp

        return review_stamp(self.engine.catalog_path)

    def thumb_keys(self) -> array:
        """The thumbnail keys of every visible group's files, no group decoded."""
        return self.engine.group_thumb_keys(self.ords().tolist())


def _outside_test(roots: tuple[str, ...]) -> Callable[[str], bool]:
    """``not under_roots(path)``, with each folder resolved once: a file that is not a
    symlink lies where its folder resolves (one lstat a file instead of a realpath)."""
    folders: dict[str, bool] = {}

    def outside(path: str) -> bool:
        if os.path.islink(path):
            return not under_roots(path, roots)
        folder = os.path.dirname(path)
        inside = folders.get(folder)
        if inside is None:
            inside = folders[folder] = under_roots(folder, roots)
        return not inside

    return outside


class ThumbGate:
    """The thumbnail keys a client may fetch, rebuilt when an unknown key is asked for.

    Kept as one sorted uint64 array (8 bytes a thumbnail, answered by binary search), not a
    set of strings (≈ 130 bytes a key): at a million files the gate was the server's largest
    structure after a scan (issue 13). A rebuild reads the keys from the stored rows without
    decoding a group (engine/group_thumbs.py)."""

    def __init__(self, jobs: JobManager, review: ReviewView | None = None) -> None:
        self.jobs = jobs
        self.review = review or ReviewView(jobs.engine, jobs.roots)
        self.keys = np.zeros(0, dtype=np.uint64)
        self.built = 0.0
        self.ended = -1  # jobs.ended when built: a job that ended since brings new groups

    def _build(self) -> None:
        ended = self.jobs.ended
        # read from the stored rows by SQLite, a chunk of groups at a time: no group is
        # decoded, no list of keys is built beside the array
        keys = self.review.thumb_keys()
        done = [j for j in self.jobs.jobs.values() if j.state == "done"][-RECENT_JOBS:]
        for job in done:
            try:
                with ResultStore(self.jobs.result_file(job.id)) as result:
                    keys.extend(result.thumb_keys())
            except (ApiError, ResultError):
                continue
        self.keys = group_thumbs.unique(keys)
        self.built = time.monotonic()
        self.ended = ended

    def _has(self, key: int | None) -> bool:
        if key is None:
            return False
        k = np.uint64(key)
        i = int(np.searchsorted(self.keys, k))
        return i < len(self.keys) and self.keys[i] == k

    def allows(self, key: str) -> bool:
        """Blocking (reads the catalog): call it from a thread."""
        k = group_thumbs.key_of_name(key)
        if not self._has(k) and (
            self.ended != self.jobs.ended or time.monotonic() - self.built > STALE
        ):
            self._build()
        return self._has(k)
