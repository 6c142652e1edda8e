"""Content rules: ``[[content_rules]]`` in config.toml, parsed and checked into plain data.

A rule says WHEN a file matches (text prompts, a sample-folder prototype, words in the prompt an
image generator embedded) and WHAT to do then (skip, notify, or a journaled move/copy/trash/
quarantine). Parsing is strict so a typo is one clear message naming the rule and the field,
never a rule that silently matches everything or nothing. Scoring lives in
:mod:`.evaluate`; this module has no torch and no I/O.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

# Actions a rule may take. "delete" is never one: trash is the reversible way to remove.
ACTIONS = ("skip", "notify", "hide", "mark", "move", "copy", "trash", "quarantine")
FILE_ACTIONS = ("move", "copy", "trash", "quarantine")
# catalog state, no file is touched: engine/hidden.py and the marked set of engine/marks.py
STATE_ACTIONS = ("hide", "mark")
NEEDS_DIR = ("move", "copy")

# Defaults (docs/rules.md explains them). A prompt rule with only positive prompts compares
# the raw cosine, which for CLIP-family models sits near 0.2-0.3 for unrelated images, so its
# default bar is higher than that; with negatives the score is a difference of means.
PROMPT_THRESHOLD = 0.25
PROMPT_THRESHOLD_WITH_NEGATIVES = 0.02
PROTOTYPE_THRESHOLD = 0.4
PROTOTYPE_THRESHOLD_WITH_NEGATIVE = 0.0
PROTOTYPE_LAMBDA = 1.0

_COND_KEYS = {
    "prompts",
    "not_prompts",
    "threshold",
    "prototype",
    "negative_prototype",
    "lambda",
    "generation_prompt",
    "classifier",
    "classes",
    "min_probability",
}
_RULE_KEYS = {"name", "folders", "when", "unless", "action", "enabled"}


class RuleError(ValueError):
    """A content rule cannot be used; the message names the rule, the field and the fix."""


@dataclass(frozen=True)
class Condition:
    """One test. ``kind`` is ``prompts``, ``prototype`` or ``generation_prompt``."""

    kind: str
    prompts: tuple[str, ...] = ()
    not_prompts: tuple[str, ...] = ()
    prototype: str | None = None
    negative_prototype: str | None = None
    lam: float = PROTOTYPE_LAMBDA
    threshold: float = 0.0
    substrings: tuple[str, ...] = ()
    classifier: str | None = None
    classes: tuple[str, ...] = ()
    min_probability: float | None = None  # None: the classifier table's default

    @property
    def needs_vector(self) -> bool:
        return self.kind in ("prompts", "prototype")


@dataclass(frozen=True)
class Test:
    """Conditions combined with ``any`` (one hit is enough) or ``all`` (every one must hit)."""

    mode: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class Action:
    kind: str
    directory: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}:{self.directory}" if self.directory else self.kind


@dataclass(frozen=True)
class ContentRule:
    name: str
    when: Test
    action: Action
    folders: tuple[str, ...] = ()  # absolute; empty = everywhere
    unless: Test | None = None
    enabled: bool = True
    raw: dict = field(default_factory=dict, compare=False, hash=False)

    def applies_to(self, path: str) -> bool:
        """Per-folder rules: recursive, by absolute path (symlinked folders by their real path)."""
        if not self.folders:
            return True
        p = os.path.realpath(os.path.abspath(path))
        return any(p == f or p.startswith(f.rstrip(os.sep) + os.sep) for f in self.folders)

    def conditions(self) -> tuple[Condition, ...]:
        return self.when.conditions + (self.unless.conditions if self.unless else ())

    @property
    def needs_text(self) -> bool:
        return any(c.kind == "prompts" for c in self.conditions())

    @property
    def needs_vector(self) -> bool:
        return any(c.needs_vector for c in self.conditions())

    def signature(self, model_version: str, prototype_keys: dict[str, str]) -> str:
        """Identity of what the rule computes: its tests, the model, and each sample folder's
        content key. A changed rule, model or sample folder re-evaluates; the action does not
        change scores, so it is not part of it."""
        doc = {
            "when": _canon(self.when),
            "unless": _canon(self.unless) if self.unless else None,
            "model": model_version if self.needs_vector else None,
            "protos": {k: prototype_keys[k] for k in sorted(self.prototype_folders())},
            "clf": {k: prototype_keys["classifier:" + k] for k in sorted(self.classifiers())},
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:20]

    def classifiers(self) -> set[str]:
        return {c.classifier for c in self.conditions() if c.classifier}

    def prototype_folders(self) -> set[str]:
        out = set()
        for c in self.conditions():
            out |= {p for p in (c.prototype, c.negative_prototype) if p}
        return out


def _canon(t: Test) -> dict:
    return {
        "mode": t.mode,
        "c": [
            {
                "k": c.kind,
                "p": list(c.prompts),
                "n": list(c.not_prompts),
                "pp": c.prototype,
                "np": c.negative_prototype,
                "l": c.lam,
                "t": c.threshold,
                "s": list(c.substrings),
                "c": c.classifier,
                "cc": list(c.classes),
                "mp": c.min_probability,
            }
            for c in t.conditions
        ],
    }


# -- parsing ------------------------------------------------------------------------------------
def parse_rules(config: dict[str, Any]) -> list[ContentRule]:
    """Every ``[[content_rules]]`` entry, in order; the first error raises :class:`RuleError`."""
    raw = config.get("content_rules", [])
    if not isinstance(raw, list):
        raise RuleError("content_rules must be a list of tables: write each as [[content_rules]]")
    rules: list[ContentRule] = []
    names: set[str] = set()
    for n, entry in enumerate(raw, 1):
        rule = parse_rule(entry, n)
        if rule.name in names:
            raise RuleError(f"content rule {rule.name!r}: the name is used twice; rename one")
        names.add(rule.name)
        rules.append(rule)
    if any(r.classifiers() for r in rules):
        from lookalike.engine.rules.classifier import parse_classifiers

        tables = parse_classifiers(config)
        for r in rules:
            for c in r.conditions():
                if c.classifier is None:
                    continue
                where = f"content rule {r.name!r}"
                if c.classifier not in tables:
                    raise RuleError(
                        f"{where}: no [classifiers.{c.classifier}] table; add one with file, "
                        "arch and classes (docs/rules.md)"
                    )
                unknown = set(c.classes) - set(tables[c.classifier].classes)
                if unknown:
                    raise RuleError(
                        f"{where}: classifier {c.classifier!r} has no class(es) "
                        f"{', '.join(sorted(unknown))}; it has {', '.join(tables[c.classifier].classes)}"
                    )
    return rules


def parse_rule(entry: Any, position: int = 1) -> ContentRule:
    if not isinstance(entry, dict):
        raise RuleError(f"content rule #{position} is not a table")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RuleError(f'content rule #{position}: give it a name (name = "…")')
    where = f"content rule {name!r}"
    unknown = set(entry) - _RULE_KEYS
    if unknown:
        raise RuleError(
            f"{where}: unknown field(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(_RULE_KEYS))}"
        )
    if "when" not in entry:
        raise RuleError(f'{where}: `when` is missing (e.g. when = {{ prototype = "DIR" }})')
    when = _parse_test(entry["when"], f"{where}: when")
    unless = _parse_test(entry["unless"], f"{where}: unless") if "unless" in entry else None
    action = parse_rule_action(entry.get("action", "notify"), where)
    folders = entry.get("folders", [])
    if isinstance(folders, str):
        folders = [folders]
    if not isinstance(folders, list) or not all(isinstance(f, str) and f for f in folders):
        raise RuleError(f"{where}: folders must be a list of folder paths")
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RuleError(f"{where}: enabled must be true or false")
    return ContentRule(
        name=name.strip(),
        when=when,
        action=action,
        folders=tuple(_folder(f) for f in folders),
        unless=unless,
        enabled=enabled,
        raw=dict(entry),
    )


def parse_rule_action(text: Any, where: str) -> Action:
    if not isinstance(text, str):
        raise RuleError(f'{where}: action must be a string such as "move:DIR"')
    kind, sep, directory = text.strip().partition(":")
    kind = kind.strip().lower()
    if kind == "delete":
        raise RuleError(f"{where}: delete is never a rule action; use trash (undoable)")
    if kind not in ACTIONS:
        raise RuleError(
            f"{where}: unknown action {text!r}; use skip, notify, hide, mark, move:DIR, "
            "copy:DIR, trash, quarantine or quarantine:DIR"
        )
    if kind in NEEDS_DIR and not directory.strip():
        raise RuleError(f"{where}: action {kind} needs a folder: write it as {kind}:DIR")
    if sep and kind not in ("move", "copy", "quarantine"):
        raise RuleError(f"{where}: action {kind} takes no folder (got {text!r})")
    return Action(kind, _folder(directory) if directory.strip() else None)


def _folder(text: str) -> str:
    return os.path.realpath(os.path.abspath(os.path.expanduser(text.strip())))


def _parse_test(raw: Any, where: str) -> Test:
    """``{prompts=…}`` (one condition), or ``{any=[{…},{…}]}`` / ``{all=[…]}``."""
    if not isinstance(raw, dict):
        raise RuleError(f'{where} must be a table, e.g. {{ prototype = "DIR", threshold = 0.2 }}')
    modes = [k for k in ("any", "all") if k in raw]
    if modes:
        if len(raw) != 1:
            raise RuleError(
                f"{where}: put every condition inside {modes[0]} = [ … ]; "
                f"other fields beside it: {', '.join(sorted(set(raw) - set(modes)))}"
            )
        items = raw[modes[0]]
        if not isinstance(items, list) or not items:
            raise RuleError(f"{where}.{modes[0]} must be a non-empty list of condition tables")
        conds = tuple(_parse_condition(c, f"{where}.{modes[0]}[{i}]") for i, c in enumerate(items))
        return Test(modes[0], conds)
    return Test("all", (_parse_condition(raw, where),))


def _strings(raw: dict, key: str, where: str) -> tuple[str, ...]:
    v = raw.get(key, [])
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(s, str) and s.strip() for s in v):
        raise RuleError(f"{where}: {key} must be a list of non-empty strings")
    return tuple(s.strip() for s in v)


def _number(raw: dict, key: str, where: str, default: float, lo: float, hi: float) -> float:
    v = raw.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise RuleError(f"{where}: {key} must be a number (got {v!r})")
    if not lo <= v <= hi:
        raise RuleError(f"{where}: {key} must be between {lo} and {hi} (got {v})")
    return float(v)


def _parse_condition(raw: Any, where: str) -> Condition:
    if not isinstance(raw, dict):
        raise RuleError(f"{where} must be a table")
    unknown = set(raw) - _COND_KEYS
    if unknown:
        raise RuleError(
            f"{where}: unknown field(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(_COND_KEYS))}"
        )
    kinds = [k for k in ("prompts", "prototype", "generation_prompt", "classifier") if k in raw]
    if "not_prompts" in raw and "prompts" not in raw:
        raise RuleError(f"{where}: not_prompts needs prompts beside it")
    if "negative_prototype" in raw and "prototype" not in raw:
        raise RuleError(f"{where}: negative_prototype needs prototype beside it")
    if len(kinds) != 1:
        raise RuleError(
            f"{where}: give exactly one of prompts, prototype, generation_prompt, classifier "
            f"(got {', '.join(kinds) or 'none'}); combine several with any = [ … ] or all = [ … ]"
        )
    kind = kinds[0]
    if kind != "classifier" and {"classes", "min_probability"} & set(raw):
        raise RuleError(f'{where}: classes and min_probability go with classifier = "NAME"')
    if kind == "classifier":
        name = raw["classifier"]
        if not isinstance(name, str) or not name:
            raise RuleError(f"{where}: classifier must name a [classifiers.NAME] table")
        classes = _strings(raw, "classes", where)
        if not classes:
            raise RuleError(f"{where}: classes is empty; list the classes that make it fire")
        mp = (
            _number(raw, "min_probability", where, 0.5, 0.0, 1.0)
            if "min_probability" in raw
            else None
        )
        _only(raw, {"classifier", "classes", "min_probability"}, where)
        return Condition("classifier", classifier=name, classes=classes, min_probability=mp)
    if kind == "prompts":
        pos = _strings(raw, "prompts", where)
        neg = _strings(raw, "not_prompts", where)
        if not pos:
            raise RuleError(f"{where}: prompts is empty; give at least one prompt")
        default = PROMPT_THRESHOLD_WITH_NEGATIVES if neg else PROMPT_THRESHOLD
        thr = _number(raw, "threshold", where, default, -2.0, 2.0)
        _only(raw, {"prompts", "not_prompts", "threshold"}, where)
        return Condition("prompts", prompts=pos, not_prompts=neg, threshold=thr)
    if kind == "prototype":
        pos_dir = _path(raw, "prototype", where)
        neg_dir = _path(raw, "negative_prototype", where) if "negative_prototype" in raw else None
        default = PROTOTYPE_THRESHOLD_WITH_NEGATIVE if neg_dir else PROTOTYPE_THRESHOLD
        thr = _number(raw, "threshold", where, default, -2.0, 2.0)
        lam = _number(raw, "lambda", where, PROTOTYPE_LAMBDA, 0.0, 10.0)
        if "lambda" in raw and not neg_dir:
            raise RuleError(f"{where}: lambda weighs negative_prototype; give that folder too")
        _only(raw, {"prototype", "negative_prototype", "lambda", "threshold"}, where)
        return Condition(
            "prototype", prototype=pos_dir, negative_prototype=neg_dir, lam=lam, threshold=thr
        )
    subs = _strings(raw, "generation_prompt", where)
    if not subs:
        raise RuleError(f"{where}: generation_prompt is empty; give at least one word")
    _only(raw, {"generation_prompt"}, where)
    return Condition("generation_prompt", substrings=subs)


def _only(raw: dict, allowed: set[str], where: str) -> None:
    extra = set(raw) - allowed
    if extra:
        raise RuleError(
            f"{where}: {', '.join(sorted(extra))} do(es) not go with this condition; "
            "split it into any = [ … ] or all = [ … ]"
        )


def _path(raw: dict, key: str, where: str) -> str:
    v = raw.get(key)
    if not isinstance(v, str) or not v.strip():
        raise RuleError(f"{where}: {key} must be a folder of sample images")
    return _folder(v)
