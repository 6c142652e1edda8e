"""A job's events: the lines of ``STATE/jobs/ID.events.jsonl``, indexed by where each starts.

Why: a group event carries a whole group's JSON, so a job that finds 100,000 groups would
hold 100,000 dicts if its events were kept in memory for the event streams (issue 13). The
log keeps 8 bytes an event (the line's offset) and streams read the lines from the file.
"""

from __future__ import annotations

import json
import os
from array import array
from pathlib import Path


class EventLog:
    """Append-only; ``read(i, j)`` gives events i..j-1 as their JSON text. Blocking file I/O:
    the server appends on its loop (a line, as before) and reads in a thread."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.starts = array("q")
        self.end = 0
        self._load()

    def _load(self) -> None:
        """Index the lines already written; a line a killed server left half written (and
        anything after it) is cut off, so the next event starts on a line of its own."""
        if not self.path.exists():
            return
        pos = 0
        with open(self.path, "rb") as fh:
            for line in fh:
                try:
                    json.loads(line)
                    ok = line.endswith(b"\n")
                except ValueError:
                    ok = False
                if not ok:
                    break
                self.starts.append(pos)
                pos += len(line)
        if pos != os.path.getsize(self.path):
            os.truncate(self.path, pos)
        self.end = pos

    def __len__(self) -> int:
        return len(self.starts)

    def append(self, data: dict) -> None:
        line = (json.dumps(data, ensure_ascii=True) + "\n").encode("ascii")
        with open(self.path, "ab") as fh:
            fh.write(line)
        self.starts.append(self.end)
        self.end += len(line)

    def read(self, first: int, last: int) -> list[str]:
        """The JSON text of events ``first`` .. ``last - 1`` (read in one pass)."""
        last = min(last, len(self.starts))
        if first >= last:
            return []
        stop = self.starts[last] if last < len(self.starts) else self.end
        with open(self.path, "rb") as fh:
            fh.seek(self.starts[first])
            blob = fh.read(stop - self.starts[first])
        return blob.decode("ascii").split("\n")[:-1]  # each line ends with one

    def all(self) -> list[dict]:
        """Every event as a dict (tests, small jobs)."""
        return [json.loads(t) for t in self.read(0, len(self))]
