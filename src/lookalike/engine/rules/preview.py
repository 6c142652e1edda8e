"""What each content rule would catch on the catalog, and how that moves with its threshold.

The Rules screen shows a hit count per rule and lets a user slide a threshold with a live
preview. Re-scoring every file per key press would be slow, so a rule with one tunable
condition (prompts, prototype or classifier) is scored once with its bar at the bottom — every
file gets its score, and ``unless`` is checked on every file — and any threshold is then a
comparison over those scores. Rules with several conditions or a generation-prompt test keep
their configured verdicts (their count does not move).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lookalike.engine.media.sniff import IMAGE
from lookalike.engine.rules.content import Condition, ContentRule, Test

LIMIT = 20_000  # catalog images previewed at most
EMBED_LIMIT = 300  # images the preview may embed itself (more: it says how to embed them first)


@dataclass(frozen=True)
class Scored:
    path: str
    score: float
    hit: bool  # at the rule's configured threshold (unless included)
    vetoed: bool  # its unless guard holds for this file


@dataclass(frozen=True)
class Preview:
    """One rule over a set of files. ``threshold`` is None when it cannot be tuned."""

    rule: str
    action: str
    threshold: float | None
    scored: tuple[Scored, ...]  # best score first
    errors: int = 0

    def hits(self, threshold: float | None = None) -> list[Scored]:
        """The files the rule fires on at ``threshold`` (default: the configured one)."""
        if threshold is None or self.threshold is None:
            return [s for s in self.scored if s.hit]
        return [s for s in self.scored if s.score >= threshold and not s.vetoed]

    def count(self, threshold: float | None = None) -> int:
        return len(self.hits(threshold))


def tunable(rule: ContentRule) -> Condition | None:
    """The rule's one condition when its threshold can slide, else None."""
    if len(rule.when.conditions) != 1:
        return None
    c = rule.when.conditions[0]
    return c if c.kind in ("prompts", "prototype", "classifier") else None


def configured_threshold(rule: ContentRule, classifiers: dict[str, Any]) -> float | None:
    c = tunable(rule)
    if c is None:
        return None
    if c.kind != "classifier":
        return c.threshold
    if c.min_probability is not None:
        return c.min_probability
    spec = classifiers.get(c.classifier or "")
    return spec.min_probability if spec is not None else 0.5


def with_threshold(rule: ContentRule, threshold: float) -> ContentRule:
    """The same rule with its one condition's bar at ``threshold``."""
    c = tunable(rule)
    assert c is not None
    c2 = (
        replace(c, min_probability=threshold)
        if c.kind == "classifier"
        else replace(c, threshold=threshold)
    )
    return replace(rule, when=Test(rule.when.mode, (c2,)))


def preview(engine: Any, rule: ContentRule, paths: Sequence[str]) -> Preview:
    """Score ``rule`` on the files it applies to (its folders; never its own samples)."""
    samples = tuple(f.rstrip(os.sep) + os.sep for f in rule.prototype_folders())
    mine = [
        p
        for p in paths
        if rule.applies_to(p) and not (samples and os.path.realpath(p).startswith(samples))
    ]
    bar = configured_threshold(rule, engine.classifier_specs)
    if bar is None:
        results = engine.evaluate(rule, mine)
        scored = [Scored(r.path, r.score, r.hit, r.vetoed) for r in results if not r.error]
    else:
        results = engine.evaluate(with_threshold(rule, -2.0), mine)  # every file "matches"
        scored = [
            Scored(r.path, r.score, r.score >= bar and not r.vetoed, r.vetoed)
            for r in results
            if not r.error
        ]
    scored.sort(key=lambda s: (-s.score, s.path))
    errors = sum(1 for r in results if r.error)
    return Preview(rule.name, str(rule.action), bar, tuple(scored), errors)


def catalog_images(catalog: Path, limit: int = LIMIT) -> list[str]:
    """Image files the catalog knows and that are still there (the app's "current catalog")."""
    from lookalike.engine.catalog import Catalog

    out: list[str] = []
    with Catalog(catalog) as cat:
        for row in cat.all_files():
            if row.kind == IMAGE and os.path.isfile(row.path):
                out.append(row.path)
                if len(out) >= limit:
                    break
    return sorted(out)


def preview_catalog(catalog: Path, config: dict[str, Any], limit: int = LIMIT) -> list[Preview]:
    """Every enabled content rule of ``config`` over the catalog's images, in rule order."""
    from lookalike.engine.rules.classifier import parse_classifiers
    from lookalike.engine.rules.content import parse_rules
    from lookalike.engine.rules.evaluate import RuleEngine

    rules = [r for r in parse_rules(config) if r.enabled]
    if not rules:
        return []
    classifiers = parse_classifiers(config) if any(r.classifiers() for r in rules) else {}
    files = catalog_images(catalog, limit)
    settings = config.get("rules", {}) if isinstance(config.get("rules"), dict) else {}
    with RuleEngine(
        rules,
        model=settings.get("model"),
        weights=settings.get("weights"),
        catalog=catalog,
        classifiers=classifiers,
    ) as eng:
        eng.embed_limit = EMBED_LIMIT
        return [preview(eng, r, files) for r in rules]


def first_hits(previews: Sequence[Preview]) -> dict[str, str]:
    """path → the name of the first rule (in order) that fires on it: the app's badges."""
    out: dict[str, str] = {}
    for p in previews:
        for s in p.hits():
            out.setdefault(s.path, p.rule)
    return out
