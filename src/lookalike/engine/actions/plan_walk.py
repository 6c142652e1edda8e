"""How the plan builder walks its groups: twice, a group at a time, never as a list (issue 13).

Why: ``build_plan`` must know every group's keeper before it stages any file (a keeper of
one group is never acted on in another), so it walks the groups twice. A scan's groups live
in an on-disk spool and a stored review in the catalog: :class:`Rewalk` reads them afresh
for each walk instead of holding them, and :func:`walk` fingerprints each walk so that a
second walk that saw other groups (a review a scan replaced in between) refuses the plan.
A source slow to read (a stored review: ≈ 1 ms a group decoded) is read once instead
(``Rewalk(once=True)``): the first walk spools the few fields the second needs, and a
``stamp`` of the source taken before and after that read refuses the plan the same way."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from lookalike.engine.actions.errors import PlanRefused
from lookalike.engine.actions.plan_spool import RowSpool
from lookalike.engine.records import Group, Member

CHANGED = (
    "the groups changed while the plan was built (a scan finished meanwhile); nothing was planned"
)


class Rewalk(Iterable[Group]):
    """Groups that :func:`build_plan` may walk twice without any caller holding them: each
    walk calls ``make`` afresh (e.g. a scan's ``ScanGroups`` read a chunk at a time, with a
    filter), so a plan over 100k groups holds its items, not the groups (issue 13)."""

    def __init__(
        self,
        make: Callable[[], Iterable[Group]],
        *,
        once: bool = False,
        stamp: Callable[[], object] | None = None,
    ) -> None:
        """``once``: read the groups once; the second walk reads what the first spooled (the
        few fields the builder needs) — for a source that is slow to read (a stored review).
        ``stamp``: a value that changes when the source's groups do, compared before and
        after that one read (a review a scan replaced in the middle of it)."""
        self._make, self.once, self.stamp = make, once, stamp

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


def _group_row(g: Group) -> tuple:
    members = tuple((m.path, m.size, m.mtime_ns, m.content_hash) for m in g.members)
    return (g.id, g.tier, g.keep, members)


def _slim_group(gid: int, tier: Any, keep: str, members: tuple) -> Group:
    """The group as the plan builder reads it: ids, tier, keeper, each file's path, size,
    mtime and content hash (nothing the builder does not read)."""
    return Group(
        gid,
        tier,
        keep,
        "",
        tuple(
            Member(p, size, 0, 0, "", 1.0, mtime, content_hash=h) for p, size, mtime, h in members
        ),
    )


def two_walks(
    groups: Iterable[Group], first: Any, second: Any
) -> tuple[Iterator[Group], Callable[[], Iterator[Group]]]:
    """The builder's two walks (each fingerprinted by :func:`walk`): the first over
    ``groups``; the second over them again, or — a :class:`Rewalk` with ``once`` — over what
    the first spooled, so a stored review is read and decoded once (issue 13)."""
    if not (isinstance(groups, Rewalk) and groups.once):
        return walk(groups, first), lambda: walk(groups, second)
    spool: RowSpool[Group] = RowSpool(_slim_group, _group_row)
    stamp = groups.stamp

    def read() -> Iterator[Group]:
        before = stamp() if stamp else None
        for g in walk(groups, first):
            spool.append(g)
            yield g
        if stamp and stamp() != before:
            raise PlanRefused(CHANGED, "plan again")

    return read(), lambda: walk(spool.done(), second)


def review_stamp(catalog_path: str | os.PathLike[str]) -> tuple:
    """What changes when the catalog's stored review does — a scan stores its groups (their
    count and scan ids), a content rule hides or shows files — and not when a reviewer's
    state or a decision is saved: the ``stamp`` of a review read once."""
    import sqlite3

    from lookalike.engine.catalog import Catalog

    with Catalog(Path(catalog_path)) as cat:
        out = [cat.db.execute("SELECT count(*), total(scan_id) FROM groups").fetchone()]
        try:
            out.append(
                cat.db.execute("SELECT count(*), total(created) FROM rule_hidden").fetchone()
            )
        except sqlite3.OperationalError:  # no content rule ever ran on this catalog
            out.append(None)
    return tuple(out)
