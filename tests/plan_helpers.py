"""Helpers shared by the plan-safety tests: the real CLI in a subprocess with its own dirs,
checksums of every file, and a small library of real photos with planted copies."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image
from skimage import data


def lookalike(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lookalike", *args],
        capture_output=True,
        timeout=300,
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
    )


def dirs_env(base: Path) -> dict[str, str]:
    return {
        "LOOKALIKE_DATA_DIR": str(base / "data"),
        "LOOKALIKE_CACHE_DIR": str(base / "cache"),
        "LOOKALIKE_CONFIG_DIR": str(base / "config"),
        "XDG_DATA_HOME": str(base / "xdg"),
        "LOOKALIKE_NO_FSYNC": "1",
    }


def checksums(*roots: Path) -> dict[str, str]:
    """sha256 of every file (symlinks by their target text) under ``roots``."""
    out = {}
    for root in roots:
        for p in sorted(root.rglob("*")):
            if p.is_symlink():
                out[str(p)] = "link:" + os.readlink(p)
            elif p.is_file():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def save_photo(path: Path, which: str = "chelsea", scale: float = 1.0, **kw) -> Path:
    img = Image.fromarray(getattr(data, which)())
    if scale != 1.0:
        img = img.resize((int(img.width * scale), int(img.height * scale)))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **({"quality": 90} | kw) if path.suffix == ".jpg" else kw)
    return path


def copy(src: Path, dest: Path) -> Path:
    """A ``cp -p`` copy: same bytes, same mtime (the case a size+mtime check cannot tell)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dest)
    return dest


def is_real_copy(path: Path, content: bytes) -> bool:
    """A regular file (not a symlink) holding ``content``."""
    return path.is_file() and not path.is_symlink() and path.read_bytes() == content
