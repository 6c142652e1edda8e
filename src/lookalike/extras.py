"""Optional extras: the light install (``pip install -e .``) holds only what ``scan --no-ui``
uses; the terminal app, exiv2 metadata and PDFs are extras. A command that needs a missing one
says which and how to install it, and stops with exit 2 before it touches anything."""

from __future__ import annotations

import importlib
import shlex
import sys
from pathlib import Path

USAGE = 2

#: extra → (modules it provides, what needs it)
EXTRAS: dict[str, tuple[tuple[str, ...], str]] = {
    "ui": (("textual", "textual_image"), "the terminal app"),
    "metadata": (("pyexiv2",), "reading and merging EXIF/XMP/IPTC metadata"),
    "pdf": (("img2pdf",), "lookalike pdf"),
}

#: what to say instead, for those who only need the headless part
ALTERNATIVE = {"ui": "scanning works without it: lookalike scan --no-ui PATH"}


def missing(extra: str) -> str | None:
    """The first module of ``extra`` that cannot be imported, or None when all can."""
    for module in EXTRAS[extra][0]:
        try:
            importlib.import_module(module)
        except ImportError:
            return module
    return None


def install_command(extra: str) -> str:
    """A pip command that works for this install: the checkout this code runs from (an editable
    install, or PYTHONPATH=src), else the package by name."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "src" / "lookalike").is_dir():
        return f"pip install -e {shlex.quote(f'{root}[{extra}]')}"
    return f"pip install 'lookalike[{extra}]'"


def message(extra: str, module: str) -> str:
    """What is missing, the command that installs it, and what works without it."""
    what = EXTRAS[extra][1]
    text = (
        f"{what} needs the [{extra}] extra ({module} is not installed); "
        f"install it with: {install_command(extra)}"
    )
    alt = ALTERNATIVE.get(extra)
    return f"{text}; {alt}" if alt else text


def require(extra: str, prog: str = "lookalike") -> None:
    """Stop with one clear message and exit 2 when ``extra`` is not installed."""
    module = missing(extra)
    if module is not None:
        sys.stderr.write(f"{prog}: {message(extra, module)}\n")
        sys.exit(USAGE)
