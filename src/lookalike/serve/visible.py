"""What a client may see: groups and thumbnails of files under the server's roots only.

The catalog can also hold scans a person ran on the box outside the roots (the CLI shares it);
those groups, and their thumbnails, are not served. A stored group is shown only when every one
of its files lies under a root; a thumbnail only when it belongs to such a group or to a job's
result (jobs scan under the roots only).
"""

from __future__ import annotations

import time
from pathlib import Path

from lookalike.engine.api import Engine
from lookalike.engine.records import Group
from lookalike.serve.errors import ApiError
from lookalike.serve.jobs import JobManager
from lookalike.serve.scanargs import under_roots

RECENT_JOBS = 20  # done jobs whose thumbnails are served
STALE = 2.0  # seconds: an unknown key rebuilds the set at most this often (a CLI scan)


def review_groups(engine: Engine, roots: tuple[str, ...]) -> list[Group]:
    """The catalog's stored review, less every group with a file outside the roots."""
    return [g for g in engine.last_groups() if all(under_roots(m.path, roots) for m in g.members)]


class ThumbGate:
    """The thumbnail keys a client may fetch, rebuilt when an unknown key is asked for."""

    def __init__(self, jobs: JobManager) -> None:
        self.jobs = jobs
        self.keys: set[str] = set()
        self.built = 0.0
        self.ended = -1  # jobs.ended when built: a job that ended since brings new groups

    def _build(self) -> None:
        ended = self.jobs.ended
        keys = {
            Path(m.thumb).stem
            for g in review_groups(self.jobs.engine, self.jobs.roots)
            for m in g.members
            if m.thumb
        }
        done = [j for j in self.jobs.jobs.values() if j.state == "done"][-RECENT_JOBS:]
        for job in done:
            try:
                doc = self.jobs.groups_document(job.id)
            except ApiError:
                continue
            keys |= {
                Path(f["thumb"]).stem for g in doc["groups"] for f in g["files"] if f.get("thumb")
            }
        self.keys, self.built = keys, time.monotonic()
        self.ended = ended

    def allows(self, key: str) -> bool:
        """Blocking (reads the catalog): call it from a thread."""
        if key not in self.keys and (
            self.ended != self.jobs.ended or time.monotonic() - self.built > STALE
        ):
            self._build()
        return key in self.keys
