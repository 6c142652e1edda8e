"""The keep rules being edited in the app: the ordered rules, reference folders and per-folder
overrides, with methods that say what changes. Every change marks the set unsaved; ``saved``
clears that once the config file has it. The Rules screen calls these instead of editing the
app's lists, so "unsaved changes" can never be forgotten by one of its actions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lookalike.engine.options import DEFAULT_KEEP_RULES, KEEP_RULE_NAMES


@dataclass
class KeepRules:
    rules: list[str] = field(default_factory=lambda: list(DEFAULT_KEEP_RULES))
    reference: list[str] = field(default_factory=list)
    overrides: dict[str, list[str]] = field(default_factory=dict)
    dirty: bool = False

    @classmethod
    def from_settings(cls, rules: Any, reference: Any, overrides: Any) -> KeepRules:
        """From the config's ``[rules]`` (unknown rule names and malformed entries dropped)."""
        known = [r for r in rules or () if r in KEEP_RULE_NAMES] or list(DEFAULT_KEEP_RULES)
        over = (
            {str(k): [str(r) for r in v] for k, v in overrides.items() if isinstance(v, list)}
            if isinstance(overrides, Mapping)
            else {}
        )
        return cls(known, [str(r) for r in reference or ()], over)

    @classmethod
    def from_scan(
        cls, rules: Iterable[str], reference: Iterable[Any], overrides: Iterable[Any]
    ) -> KeepRules:
        """From a command line's scan options (``lookalike scan … --keep-rule``)."""
        return cls(
            list(rules), [str(r) for r in reference], {str(k): list(v) for k, v in overrides}
        )

    def move(self, index: int, delta: int) -> bool:
        """Swap rule ``index`` with its neighbour ``delta`` away; False if out of range."""
        j = index + delta
        if not (0 <= index < len(self.rules) and 0 <= j < len(self.rules)):
            return False
        self.rules[index], self.rules[j] = self.rules[j], self.rules[index]
        self.dirty = True
        return True

    def add(self, name: str) -> None:
        """Append a known rule (ValueError for an unknown name; a rule already there stays)."""
        if name not in KEEP_RULE_NAMES:
            raise ValueError(f"Unknown rule {name!r}")
        if name not in self.rules:
            self.rules.append(name)
            self.dirty = True

    def remove(self, index: int) -> bool:
        """Drop rule ``index``; the last rule is never removed (a keeper needs one)."""
        if len(self.rules) <= 1 or not 0 <= index < len(self.rules):
            return False
        self.rules.pop(index)
        self.dirty = True
        return True

    def add_reference(self, path: str) -> None:
        self.reference.append(path)
        self.dirty = True

    def drop_reference(self) -> bool:
        """Drop the reference folder added last."""
        if not self.reference:
            return False
        self.reference.pop()
        self.dirty = True
        return True

    def set_override(self, folder: str, rules: list[str]) -> None:
        bad = [r for r in rules if r not in KEEP_RULE_NAMES]
        if bad or not rules or not folder:
            raise ValueError(f"Unknown rule(s): {', '.join(bad) or '-'}")
        self.overrides[folder] = list(rules)
        self.dirty = True

    def drop_override(self) -> bool:
        """Drop the override added last."""
        if not self.overrides:
            return False
        self.overrides.pop(next(reversed(self.overrides)))
        self.dirty = True
        return True

    def saved(self) -> None:
        self.dirty = False

    def snapshot(self) -> tuple[list[str], list[str], dict[str, list[str]]]:
        """Copies to hand to a saving thread (the lists may change while it runs)."""
        return (
            list(self.rules),
            list(self.reference),
            {k: list(v) for k, v in self.overrides.items()},
        )
