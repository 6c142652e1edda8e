"""How the plan builder walks its groups: twice, a group at a time, never as a list (issue 13).

Why: ``build_plan`` must know every group's keeper before it stages any file (a keeper of
one group is never acted on in another), so it walks the groups twice. A scan's groups live
in an on-disk spool and a stored review in the catalog: :class:`Rewalk` reads them afresh
for each walk instead of holding them, and :func:`walk` fingerprints each walk so that a
second walk that saw other groups (a review a scan replaced in between) refuses the plan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from lookalike.engine.records import Group


class Rewalk(Iterable[Group]):
    """Groups that :func:`build_plan` may walk twice without any caller holding them: each
    walk calls ``make`` afresh (e.g. a scan's ``ScanGroups`` read a chunk at a time, with a
    filter), so a plan over 100k groups holds its items, not the groups (issue 13)."""

    def __init__(self, make: Callable[[], Iterable[Group]]) -> None:
        self._make = make

    def __iter__(self) -> Iterator[Group]:
        return iter(self._make())


def walk(groups: Iterable[Group], digest: Any) -> Iterator[Group]:
    """One walk over the groups, each one's id, tier, keeper and member paths fed to
    ``digest``: the second walk must see the groups the first did (a stored review that a
    scan replaced in between would pair one group's files with another's keeper)."""
    for g in groups:
        digest.update(f"{g.id}\0{g.tier}\0{g.keep}\0".encode(errors="surrogatepass"))
        for m in g.members:
            digest.update(m.path.encode(errors="surrogatepass") + b"\0")
        digest.update(b"\1")
        yield g
