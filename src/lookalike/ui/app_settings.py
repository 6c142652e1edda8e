"""The app's start-up values from the settings (config.toml) and a command line's scan options:
pure functions, so each is testable without a terminal."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lookalike.engine.options import DEFAULT_KEEP_RULES, ScanOptions
from lookalike.ui.keep_rules import KeepRules

Setting = Callable[[str, Any], Any]  # LookalikeApp.setting: dotted key, default → value


def scan_settings(setting: Setting, base: ScanOptions | None) -> dict[str, Any]:
    """The Scan screen's knobs: the config's values, overridden by a command line's options."""
    out: dict[str, Any] = {
        "sensitivity": int(setting("scan.sensitivity", 50)),
        "same": bool(setting("scan.same", True)),
        "workers": int(setting("scan.workers", os.cpu_count() or 1)),
        "similar": bool(setting("scan.similar", False)),
    }
    if base is not None:
        out.update(
            sensitivity=base.sensitivity,
            same=base.same,
            workers=base.workers,
            similar=bool(base.ml and base.ml.similar),
        )
    return out


def keeper_rules(setting: Setting, base: ScanOptions | None) -> KeepRules:
    """The keep rules: a command line's (``scan --keep-rule …``) else the config's."""
    if base is not None:
        return KeepRules.from_scan(base.keep_rules, base.reference, base.keep_overrides)
    return KeepRules.from_settings(
        setting("rules.keep", list(DEFAULT_KEEP_RULES)),
        setting("rules.reference", []),
        setting("rules.overrides", {}),
    )


def flatten_keymap(table: Any, prefix: str = "") -> dict[str, str]:
    """``[keymap]`` may be flat (``"review.next_group" = "x"``) or nested (``[keymap.review]``,
    which is what ``lookalike config set keymap.review.next_group x`` writes)."""
    out: dict[str, str] = {}
    if not isinstance(table, dict):
        return out
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_keymap(value, f"{name}."))
        elif isinstance(value, str | list):
            out[name] = value if isinstance(value, str) else ",".join(map(str, value))
    return out


def common_parent(paths: Sequence[Path]) -> Path:
    try:
        common = Path(os.path.commonpath([str(p) for p in paths]))
    except ValueError:
        return Path.home()
    return common if common.is_dir() else common.parent
