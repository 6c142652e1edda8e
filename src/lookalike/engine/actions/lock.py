"""Optional passphrase lock for sensitive operations (permanent delete, emptying quarantine).

The passphrase is stored as an scrypt hash in config (``[actions] passphrase``); unlocking
opens a session for ``[actions] session_minutes`` (default 15) recorded in a 0600 file in the
data dir, so a script run right after an interactive unlock does not ask again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from lookalike.atomicio import write_atomic
from lookalike.engine import settings
from lookalike.engine.actions.errors import ConfirmationRequired

N, R, P = 2**14, 8, 1


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, n=N, r=R, p=P, dklen=32)


def _session_file() -> Path:
    return settings.current().data_dir / "unlock-session"


def configured() -> str | None:
    value = settings.read_user_key("actions.passphrase")
    return value if isinstance(value, str) and value.startswith("scrypt$") else None


def set_passphrase(secret: str) -> None:
    if len(secret) < 4:
        raise ConfirmationRequired("the passphrase is too short", "use at least 4 characters")
    salt = secrets.token_bytes(16)
    stored = f"scrypt${salt.hex()}${_hash(secret, salt).hex()}"
    settings.update_user_config(lambda data: settings.set_key(data, "actions.passphrase", stored))


def clear_passphrase() -> None:
    def drop(data: dict) -> None:
        if isinstance(data.get("actions"), dict):
            data["actions"].pop("passphrase", None)

    settings.update_user_config(drop)
    lock()


def check(secret: str) -> bool:
    stored = configured()
    if stored is None:
        return True
    _, salt, digest = stored.split("$")
    return hmac.compare_digest(_hash(secret, bytes.fromhex(salt)).hex(), digest)


def unlocked() -> bool:
    """No passphrase configured, or a session that has not timed out."""
    if configured() is None:
        return True
    try:
        return float(_session_file().read_text().strip()) > time.time()
    except (OSError, ValueError):
        return False


def unlock(secret: str) -> bool:
    if not check(secret):
        return False
    minutes = settings.session_minutes()
    path = _session_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, str(time.time() + float(minutes) * 60), mode=0o600)
    return True


def lock() -> None:
    try:
        _session_file().unlink()
    except OSError:
        pass


def require_unlocked(ask: Callable[[str], str]) -> None:
    """Ask for the passphrase (via ``ask``) unless no lock is set or a session is open."""
    if unlocked():
        return
    if not unlock(ask("passphrase: ")):
        raise ConfirmationRequired("wrong passphrase; nothing was done")
