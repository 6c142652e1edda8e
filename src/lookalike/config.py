"""Settings: TOML in the platform config dir, env overrides, platformdirs paths.

``LOOKALIKE_CONFIG_DIR``, ``LOOKALIKE_CACHE_DIR`` and ``LOOKALIKE_DATA_DIR`` move the three
folders (tests and portable installs use them).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w

APP = "lookalike"


def _dir(env: str, default: str) -> Path:
    value = os.environ.get(env)
    return Path(value).expanduser() if value else Path(default)


def config_dir() -> Path:
    return _dir("LOOKALIKE_CONFIG_DIR", platformdirs.user_config_dir(APP))


def cache_dir() -> Path:
    return _dir("LOOKALIKE_CACHE_DIR", platformdirs.user_cache_dir(APP))


def data_dir() -> Path:
    return _dir("LOOKALIKE_DATA_DIR", platformdirs.user_data_dir(APP))


def config_path() -> Path:
    return config_dir() / "config.toml"


def default_catalog_path() -> Path:
    return cache_dir() / "catalog.sqlite"


def thumbnail_dir() -> Path:
    return cache_dir() / "thumbs"


def journal_path() -> Path:
    return data_dir() / "journal.sqlite"


class ConfigError(Exception):
    """The config file exists but cannot be used; the message says where and why."""


def load_config(path: Path | None = None) -> dict[str, Any]:
    """Read config.toml; a missing file is an empty config."""
    path = path or config_path()
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix or remove the file") from exc


def save_config(data: dict[str, Any], path: Path | None = None) -> Path:
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_bytes(tomli_w.dumps(data).encode())
    os.replace(tmp, path)
    return path


def get_key(data: dict[str, Any], dotted: str, default: Any = None) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def set_key(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{dotted}: {part} is not a table")
    node[parts[-1]] = value
