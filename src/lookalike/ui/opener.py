"""Which command opens a file in the system viewer, if this session has a display at all."""

from __future__ import annotations

import os
import shutil
import sys


def opener() -> list[str] | None:
    """``open`` on macOS; ``xdg-open`` where X11/Wayland is reachable; None over plain SSH."""
    if sys.platform == "darwin":
        return ["open"]
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        found = shutil.which("xdg-open")
        return [found] if found else None
    return None
