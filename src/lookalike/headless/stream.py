"""Results written as the scan finds them: each group goes out when the engine yields it.

The scan's output must not cost memory in proportion to the collection: no list of every
group's JSON dict (``result_json``) is built. ``--format json`` streams its one document —
the header, the groups one by one, then the errors and the stats — byte for byte what
``json.dump(result_json(...), indent=1)`` writes; csv and text write their rows and lines
per group, and ``--link-dir`` makes each group's folder as it arrives.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from lookalike.engine.records import FileError, Group, ScanStats
from lookalike.headless import output
from lookalike.headless.indent_json import dumps_indent1

_GROUP_INDENT = "  "  # a group sits two levels deep in the document (indent=1)
_HEAD = f'{{\n "version": {output.JSON_VERSION},\n "groups": ['


def _dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=True, indent=1)


class ResultStream:
    """One scan's results in ``fmt`` (json, csv, text; jsonl is written by the runner from the
    events themselves), and the link folders under ``link_dir``."""

    def __init__(self, fmt: str, out: TextIO, link_dir: Path | None = None) -> None:
        self.fmt, self.out, self.link_dir = fmt, out, link_dir
        self.count = 0
        self.links = 0
        self.link_error: OSError | None = None
        self._csv = csv.writer(out, lineterminator="\n") if fmt == "csv" else None

    def group(self, g: Group) -> None:
        """Write one finished group (groups arrive in their final order)."""
        first = self.count == 0
        self.count += 1
        if self.fmt == "json":
            head = _HEAD + "\n" if first else ",\n"
            self.out.write(head + dumps_indent1(g.to_json(), _GROUP_INDENT))
        elif self._csv is not None:
            if first:
                self._csv.writerow(output.CSV_FIELDS)
            output.write_csv_group(self._csv, g)
        elif self.fmt == "text":
            output.write_text_group(self.out, g)
        self._link(g)

    def _link(self, g: Group) -> None:
        if self.link_dir is None or self.link_error is not None:
            return
        try:
            if self.links == 0:
                self.link_dir.mkdir(parents=True, exist_ok=True)
            self.links += output.write_group_links(self.link_dir, g)
        except OSError as exc:  # reported once by the runner; the results still go out
            self.link_error = exc

    def finish(self, errors: Sequence[FileError], stats: ScanStats) -> None:
        """Close the document: for json the errors and the stats after the groups."""
        if self.fmt == "json":
            if self.count:
                self.out.write("\n ],\n")
            else:
                self.out.write(_HEAD + "],\n")
            tail = _dumps({"errors": [e.to_json() for e in errors], "stats": stats.to_json()})
            self.out.write(tail[len("{\n") :] + "\n")
        elif self._csv is not None and not self.count:
            self._csv.writerow(output.CSV_FIELDS)
        elif self.fmt == "text":
            output.write_text_summary(self.out, stats)
        if self.link_dir is not None and not self.count and self.link_error is None:
            try:
                self.link_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                self.link_error = exc
