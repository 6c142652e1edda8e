"""Stage 4b, content rules (``scan --rules``): between extract and group.

The rules run on the vectors the scan just stored (an exact copy borrows its representative's
vector: same bytes), so nothing is decoded twice when the rules use the scan's model. What a
``hide`` rule fires on is hidden in the catalog, and what a ``move``/``trash``/``quarantine``
rule will take away is left out of grouping, so this very run's groups — and their keepers —
already reflect the rules. The file actions themselves are the caller's (a journalled batch
after the scan: commands/rules.py); ``apply = False`` (dry run) only reports.
Every hit is also remembered in the catalog (rule_hits.py) for the app's badges.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lookalike.engine.catalog import FileRow
from lookalike.engine.events import Event, Notice
from lookalike.engine.media.sniff import IMAGE
from lookalike.engine.records import FileError
from lookalike.engine.stages.context import Progress, ScanContext
from lookalike.engine.stages.diff import Diffed
from lookalike.engine.stages.exact import Exact

LEAVING = ("move", "trash", "quarantine")  # actions that take the file away from where it is


@dataclass(frozen=True)
class RuleOutcome:
    hits: tuple[tuple[str, str, float, str], ...] = ()  # path, rule, score, action
    error: str = ""  # the rules could not run (bad classifier or model): nothing applied


def _evaluate(ctx: ScanContext, ex: Exact, images: list[FileRow]) -> RuleOutcome:
    """First hits of the ordered rules on ``images``; per-file failures become scan errors."""
    from lookalike.engine.embedders import ModelUnavailable
    from lookalike.engine.rules.content import RuleError
    from lookalike.engine.rules.evaluate import RuleEngine

    opts = ctx.options.content_rules
    assert opts is not None
    rows = {r.id: r for r in images}
    aliases = {
        r.path: rows[rep].path
        for r in images
        if (rep := ex.rep_of.get(r.id, r.id)) != r.id and rep in rows
    }
    try:
        with RuleEngine(
            opts.rules,
            model=opts.model,
            catalog=ctx.catalog_path,
            classifiers=dict(opts.classifiers),
            weights=opts.weights,
            device=opts.device,
        ) as eng:
            eng.aliases = aliases
            fired, errors = eng.first_hits([r.path for r in images])
    except (RuleError, ModelUnavailable) as exc:
        return RuleOutcome(error=str(exc))
    for e in errors:
        ctx.on_error(FileError(e.path, f"content rule {e.rule}: {e.error}"))
    action = {r.name: str(r.action) for r in opts.rules}
    hits = tuple(
        (r.path, fired[r.path].rule, fired[r.path].score, action[fired[r.path].rule])
        for r in sorted(images, key=lambda r: r.path)
        if r.path in fired
    )
    return RuleOutcome(hits)


_COPY_FEATURES = (
    "INSERT OR IGNORE INTO features (file_id, name, version, data) "
    "SELECT ?, name, version, data FROM features WHERE file_id = ?"
)


def leave_out(ctx: ScanContext, ex: Exact, media: list[FileRow], gone: set[int]) -> None:
    """Take the files ``gone`` out of this scan's exact clusters and representatives (in
    place). When a cluster's representative leaves, the first copy that stays stands for the
    rest and takes over its stored features (same bytes, same features: nothing decoded)."""
    if not gone:
        return
    heirs = [
        (kept[0].id, c[0].id)
        for c in ex.clusters
        if c[0].id in gone and (kept := [r for r in c if r.id not in gone])
    ]
    if heirs:
        with ctx.cat.transaction():
            ctx.cat.db.executemany(_COPY_FEATURES, heirs)
    clusters = [kept for c in ex.clusters if len(kept := [r for r in c if r.id not in gone]) > 1]
    ex.clusters = clusters
    ex.rep_of = {r.id: c[0].id for c in clusters for r in c}
    ex.cluster_of = {c[0].id: c for c in clusters}
    stands = [r for r in media if r.id not in gone and ex.rep_of.get(r.id, r.id) == r.id]
    ex.reps = [r for r in stands if r.kind == IMAGE]
    ex.video_reps = [r for r in ex.video_reps if r.id not in gone]


def content(ctx: ScanContext, ex: Exact, diffed: Diffed) -> Iterator[Event]:
    """Apply ``scan --rules`` before grouping; returns the ``RuleOutcome``."""
    from lookalike.engine import hidden, rule_hits

    opts = ctx.options.content_rules
    if opts is None or not opts.rules:
        return RuleOutcome()
    prog = Progress("rules", None)
    images = [r for r in diffed.media if r.kind == IMAGE and r.path not in ctx._err_paths]
    out = _evaluate(ctx, ex, images)
    yield from ctx.flush_errors()
    if out.error:
        yield Notice(f"content rules: {out.error}; no rule was applied", level="error")
        return out
    kinds = {r.name: r.action.kind for r in opts.rules}
    # each stats its files first, then writes in one short transaction of its own
    rule_hits.record(ctx.cat.db, [r.path for r in images], out.hits)
    if opts.apply:
        hidden.hide(ctx.cat.db, [(p, n, s) for p, n, s, _ in out.hits if kinds[n] == "hide"])
    if opts.apply:
        shown = ctx.options.show_rule_hidden  # --show-hidden: hidden, yet grouped this once
        away = {
            p
            for p, n, _, _ in out.hits
            if kinds[n] in LEAVING or (kinds[n] == "hide" and not shown)
        }
        leave_out(ctx, ex, diffed.media, {r.id for r in diffed.media if r.path in away})
    yield prog.done(len(out.hits))
    ctx.timed("rules", prog.start)
    return out
