"""Settings: TOML in the platform config dir, env overrides, platformdirs paths.

``LOOKALIKE_CONFIG_DIR``, ``LOOKALIKE_CACHE_DIR`` and ``LOOKALIKE_DATA_DIR`` move the three
folders (tests and portable installs use them).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w

from lookalike.atomicio import write_atomic

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


def remote_thumbnail_dir() -> Path:
    """The ``--server`` app's copies of a server's thumbnails (remote_thumbs.py)."""
    return cache_dir() / "remote-thumbs"


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
    """Write config.toml atomically (unique temp, fsync, rename, fsync dir), mode 0600: it may
    hold the passphrase hash. Prefer :func:`update_config`, which cannot lose a concurrent edit."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, tomli_w.dumps(data).encode(), mode=0o600)
    return path


_THREAD_LOCK = threading.RLock()


@contextlib.contextmanager
def _config_lock(path: Path) -> Iterator[None]:
    """Serialise read-modify-write of config.toml across threads (RLock) and processes
    (flock on a lock file beside it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _THREAD_LOCK:
        fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the flock


def update_config(
    change: Callable[[dict[str, Any]], None], path: Path | None = None
) -> dict[str, Any]:
    """Load, apply ``change`` (which edits the dict in place) and save, under a lock, so two
    saves at once (app threads, another lookalike) never lose each other's keys. Returns the
    saved settings."""
    path = path or config_path()
    with _config_lock(path):
        data = load_config(path)
        change(data)
        save_config(data, path)
    return data


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
