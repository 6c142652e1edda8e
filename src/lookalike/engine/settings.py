"""The engine's settings in one object: where its files live and the few user choices it honours.

Why: the engine should not read config.toml or the platform directories from a dozen places.
Every engine module asks :func:`current` instead; a client (a library user, a test, the job
API) may hand the engine its own :class:`EngineSettings` with :func:`configure`. Without one,
the settings are built from ``lookalike.config`` at each call (so the environment a caller sets,
``XDG_*_HOME`` or ``LOOKALIKE_*``, is honoured at once). This module is the only engine module
that imports ``lookalike.config`` (an import-linter contract checks it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lookalike import config


@dataclass(frozen=True)
class EngineSettings:
    data_dir: Path  # journal, quarantine, plan key, unlock session
    cache_dir: Path  # catalog, thumbnails, rule caches
    journal_path: Path
    catalog_path: Path
    thumbnail_dir: Path
    # user choices; None: read config.toml when asked (a bad file then costs only that choice)
    allow_download: bool | None = None  # [models] allow_download: fetch missing model weights
    session_minutes: float | None = None  # [actions] session_minutes: how long an unlock lasts

    @classmethod
    def from_config(cls) -> EngineSettings:
        """The platform directories (``XDG_*_HOME``, ``LOOKALIKE_*`` honoured); config.toml is
        read only for a user choice, when it is asked for."""
        return cls(
            data_dir=config.data_dir(),
            cache_dir=config.cache_dir(),
            journal_path=config.journal_path(),
            catalog_path=config.default_catalog_path(),
            thumbnail_dir=config.thumbnail_dir(),
        )


_configured: EngineSettings | None = None


def configure(settings: EngineSettings | None) -> None:
    """Use ``settings`` from now on (None: back to config.toml and the platform directories)."""
    global _configured
    _configured = settings


def current() -> EngineSettings:
    return _configured if _configured is not None else EngineSettings.from_config()


def allow_download() -> bool:
    """``models.allow_download`` (default false): an air-gapped box never hangs on a download."""
    chosen = current().allow_download
    if chosen is not None:
        return chosen
    try:
        return bool(read_user_key("models.allow_download", False))
    except Exception:  # a broken config.toml: the safe answer
        return False


def session_minutes() -> float:
    chosen = current().session_minutes
    return float(chosen if chosen is not None else read_user_key("actions.session_minutes", 15))


# The passphrase guard (actions/lock.py) keeps its hash in config.toml, the one engine state
# that lives there; these two are its only way in.
def read_user_key(dotted: str, default: Any = None) -> Any:
    return config.get_key(config.load_config(), dotted, default)


def update_user_config(change: Callable[[dict[str, Any]], None]) -> None:
    config.update_config(change)


def set_key(data: dict[str, Any], dotted: str, value: Any) -> None:
    config.set_key(data, dotted, value)
