"""The cyclic collector and a scan's long-lived objects (issue 13).

Why: once the extract stage is done the driver holds what the rest of the scan reads — every
file's row, the exact clusters, the content rules' outcome — and the group and rank stages
then allocate in bulk, so the collector runs its passes, and each full pass walks every one
of those objects again although none of them can be garbage yet. ``gc.freeze()`` moves the
objects alive at that point into a generation the collector skips (reference counting still
frees them as before). One full collection goes first, so no garbage cycle is frozen with
them (without it the driver's peak RSS grew: docs/benchmarks.md "Scale"); the scan unfreezes
them when ranking is done, so a cycle among them that became garbage meanwhile is collected.
Measured by ``benchmarks/group_rank_stages.py`` (``--gc plain`` runs without it).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def long_lived_frozen() -> Iterator[None]:
    """Everything alive now is out of the collector's sight until the block ends.

    Process-wide, like the collector itself: the app freezes its own review after every scan
    (ui/app_scan.py) again, so the unfreeze here costs it nothing lasting."""
    gc.collect()  # the garbage so far first: a frozen dead cycle would stay until the end
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def collected_after() -> Iterator[None]:
    """No collection while the block builds a scan's rows, one pass once it is done.

    Why: the walk and the catalog stage create an object or two a file (1.1 M ``Found``
    tuples, then as many ``FileRow``) and free almost none, so every full pass the growing
    heap triggers walks all of them again, to find no garbage: ≈ 3 s of the driver's CPU of a
    1 M rescan (1.6 s of the walk, 1.4 s of the catalog stage). Nothing in these stages makes
    cycles but an error's traceback, which the pass when the block ends collects. Process
    wide, like ``long_lived_frozen``; a block inside one where collection is off leaves it off."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
