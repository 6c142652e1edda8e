"""Where a benchmark's result goes, and the catalog copy a stage benchmark runs on.

Why: every script prints its JSON (stdout is data) and, with ``-o``, writes the same text to a
file; the stage scripts run on a throw-away copy of a scanned catalog (the original is only
read). One place for both, instead of the same lines in each script.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def emit(result: dict, output: Path | None, indent: int = 2) -> int:
    """Print ``result`` as JSON and write it to ``output`` too, when given; returns 0."""
    text = json.dumps(result, indent=indent)
    print(text)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text + "\n")
    return 0


def on_catalog_copy(catalog: Path, prefix: str, run: Callable[[Path], dict]) -> dict:
    """``run`` on a copy of ``catalog`` in a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        copy = Path(tmp) / "catalog.db"
        shutil.copyfile(catalog, copy)
        return run(copy)
