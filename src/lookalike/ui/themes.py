"""Themes from TOML files: the shipped ones (``themes/*.toml`` at the top of the repository,
packaged into the wheel as ``lookalike/themes``) plus ``config_dir()/themes``.

A theme file holds the fields of :class:`textual.theme.Theme` (``name``, ``primary``,
``background``, … and an optional ``[variables]`` table). A bad file is skipped with one message
and the app keeps its default, so a typo never stops the app from starting.
"""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path

from textual.theme import Theme

DEFAULT_THEME = "lookalike-dark"
_PACKAGE = Path(__file__).resolve().parent.parent


def bundled_dir() -> Path:
    """Where the shipped themes are: inside an installed wheel ``lookalike/themes``; in a source
    checkout (editable install) the repository's top-level ``themes/``."""
    installed = _PACKAGE / "themes"
    return installed if installed.is_dir() else _PACKAGE.parent.parent / "themes"


BUNDLED = bundled_dir()


def user_themes_dir() -> Path:
    from lookalike.config import config_dir

    return config_dir() / "themes"


def theme_from_toml(path: Path) -> Theme:
    """Parse one theme file; raises ValueError with a readable reason."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read: {exc}") from exc
    allowed = {f.name for f in fields(Theme)}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"unknown key(s): {', '.join(unknown)}")
    if not isinstance(data.get("name"), str) or not isinstance(data.get("primary"), str):
        raise ValueError("'name' and 'primary' are required strings")
    theme = Theme(**data)
    try:
        theme.to_color_system().generate()
    except Exception as exc:  # any bad colour string
        raise ValueError(f"bad colour: {exc}") from exc
    return theme


def load_themes(user_dir: Path | None = None) -> tuple[list[Theme], list[str]]:
    """All themes that parse, and one message per file that does not."""
    themes: list[Theme] = []
    problems: list[str] = []
    folders = [BUNDLED, user_dir if user_dir is not None else user_themes_dir()]
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                themes.append(theme_from_toml(path))
            except ValueError as exc:
                problems.append(f"theme {path}: {exc}")
    return themes, problems
