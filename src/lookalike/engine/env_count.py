"""Counts read from the environment, with one message for a value that is not a count.

Why: the size thresholds from which the grouping columns and the model vectors live in
memory-mapped files (disk_columns.py, disk_vectors.py) are both set by a variable; one parse
keeps their rules the same — unset or blank: the default; 0: never; anything else that is
not an ASCII count: the default, and the scan says so once.
"""

from __future__ import annotations

import os

NEVER = 2**62  # a threshold no collection reaches


def count_problem(name: str, default: int, noun: str, zero_keeps: str) -> str | None:
    """The message for ``name`` set to something that is not a count, else None."""
    raw = os.environ.get(name, "").strip()
    if not raw or (raw.isdigit() and raw.isascii()):
        return None
    return (
        f"{name}={raw!r} is not a number of {noun}; using {default}. Set it to a count "
        f"(0 keeps {zero_keeps} in memory) or unset it"
    )


def count_threshold(name: str, default: int) -> int:
    """``name``'s count (0 → :data:`NEVER`), else ``default`` when unset, blank or no count."""
    raw = os.environ.get(name, "").strip()
    if not raw or not (raw.isdigit() and raw.isascii()):
        return default
    return int(raw) or NEVER
