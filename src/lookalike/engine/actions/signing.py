"""Plan signatures: ``apply`` must know that this install wrote the plan it is handed.

A plan file is untrusted input (anyone who can write it can name any file). Plans are signed
with HMAC-SHA256 over a canonical JSON form, with a random per-install key kept in the data dir
(``plan.key``, 0600, created atomically on first use). A hand-edited plan fails the check;
``apply --force-unsigned`` skips only this check, never the per-item ones.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

from lookalike.engine import settings
from lookalike.engine.actions.errors import PlanRefused

KEY_BYTES = 32
SIGNATURE_FIELD = "signature"


def key_path() -> Path:
    return settings.current().data_dir / "plan.key"


def _read_key(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PlanRefused(f"the plan key {path} is not a regular file", f"remove {path}")
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            raise PlanRefused(
                f"the plan key {path} belongs to another user; plans cannot be checked",
                f"remove {path} (a new key is made; plans signed with the old one need "
                "apply --force-unsigned)",
            )
        if stat.S_IMODE(st.st_mode) & 0o077:  # readable by others: anyone could sign plans
            os.fchmod(fd, 0o600)
        data = os.read(fd, KEY_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) != KEY_BYTES:
        raise PlanRefused(
            f"the plan key {path} is damaged",
            f"remove {path} (a new key is made; older plans need apply --force-unsigned)",
        )
    return data


def install_key() -> bytes:
    """The per-install key, created (0600, unique temp + fsync + link, never clobbering a key
    another process made at the same moment) on first use."""
    path = key_path()
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_bytes(KEY_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process won the race: use theirs
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)
    return _read_key(path)


def canonical(data: dict) -> bytes:
    """The signed bytes: the plan without its signature, sorted keys, no spaces, ASCII (paths
    that are not UTF-8 travel as surrogate escapes, which ``json`` writes as ``\\udcXX``)."""
    body = {k: v for k, v in data.items() if k != SIGNATURE_FIELD}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sign(data: dict) -> str:
    return hmac.new(install_key(), canonical(data), hashlib.sha256).hexdigest()


def sign_chunks(chunks: Iterable[bytes]) -> str:
    """:func:`sign` of a canonical form given in pieces (a large plan, plan_write.py)."""
    mac = hmac.new(install_key(), digestmod=hashlib.sha256)
    for chunk in chunks:
        mac.update(chunk)
    return mac.hexdigest()


def is_signed_here(data: dict) -> bool:
    """True when ``data`` carries a signature this install made over exactly this content."""
    got = data.get(SIGNATURE_FIELD)
    if not isinstance(got, str) or not got:
        return False
    return hmac.compare_digest(got, sign(data))
