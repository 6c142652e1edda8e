"""Honest dependencies: every base requirement in pyproject.toml is imported by the code that needs
it, a real ``lookalike scan --no-ui`` (photos, a HEIC, a video; spawn workers included) imports
every base requirement except the few named below (each with the command that uses it), and no
extra's package (torch, scikit-image, keras, ray, …) is loaded by that scan."""

from __future__ import annotations

import ast
import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))

# Base requirements the scan path does not load, and who does. The terminal app, exiv2 metadata
# and PDFs are the [ui], [metadata] and [pdf] extras (tests/test_extras.py), so none is left.
NOT_ON_SCAN_PATH: dict[str, str] = {}

# Records every module any process of the run imports (spawn workers inherit PYTHONPATH).
SITECUSTOMIZE = """
import os, sys
_log = os.environ.get("LOOKALIKE_IMPORT_LOG")
if _log:
    _seen = set()
    def _hook(event, args):
        if event == "import" and args[0].split(".")[0] not in _seen:
            _seen.add(args[0].split(".")[0])
            with open(_log, "a") as fh:
                fh.write(args[0].split(".")[0] + "\\n")
    sys.addaudithook(_hook)
"""


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _names(reqs: list[str]) -> set[str]:
    """Requirement names whose environment marker holds here."""
    from packaging.requirements import Requirement

    return {
        _norm(r.name) for r in map(Requirement, reqs) if r.marker is None or r.marker.evaluate()
    }


BASE = _names(PYPROJECT["project"]["dependencies"])


def _modules_of() -> dict[str, set[str]]:
    """Distribution → its top-level modules (installed ones only)."""
    out: dict[str, set[str]] = {}
    for module, dists in md.packages_distributions().items():
        for d in dists:
            out.setdefault(_norm(d), set()).add(module)
    return out


def _dists_of(modules: set[str]) -> set[str]:
    mapping = md.packages_distributions()
    return {_norm(d) for m in modules for d in mapping.get(m, [])}


def _imported_in_src() -> set[str]:
    """Top-level module names any import statement in src/ names (lazy imports included)."""
    names: set[str] = set()
    for p in (REPO / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names


def test_every_base_requirement_is_imported_by_the_code() -> None:
    mods = _modules_of()
    missing = {d for d in BASE if d in mods and not (mods[d] & _imported_in_src())}
    assert not missing, f"base requirements no code imports (use them or drop them): {missing}"
    assert not (set(NOT_ON_SCAN_PATH) - BASE), "NOT_ON_SCAN_PATH names a non-base package"


@pytest.fixture(scope="module")
def scan_imports(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Distributions loaded by any process of a real scan of photos, a HEIC and a video."""
    data = pytest.importorskip("skimage.data")
    from PIL import Image

    tmp = tmp_path_factory.mktemp("deps")
    photos = tmp / "photos"
    photos.mkdir()
    astro = Image.fromarray(data.astronaut())
    astro.save(photos / "astronaut.jpg", quality=92)
    astro.resize((256, 256)).save(photos / "astronaut_small.png")
    Image.fromarray(data.coffee()).save(photos / "coffee.jpg")
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        Image.fromarray(data.chelsea()).save(photos / "chelsea.heic")
    except Exception:  # no HEIF encoder in this wheel: the HEIC reader is still imported
        pass
    shutil.copy(REPO / "tests" / "data" / "video" / "bikes.mp4", photos / "bikes.mp4")
    (tmp / "probe").mkdir()
    (tmp / "probe" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp / "imports.log"
    env = {
        **os.environ,
        "LOOKALIKE_IMPORT_LOG": str(log),
        "PYTHONPATH": os.pathsep.join([str(tmp / "probe"), str(REPO / "src")]),
        "XDG_CACHE_HOME": str(tmp / "cache"),
        "XDG_DATA_HOME": str(tmp / "data"),
        "XDG_CONFIG_HOME": str(tmp / "config"),
    }
    r = subprocess.run(
        [sys.executable, "-m", "lookalike", "scan", "--no-ui", str(photos), "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert '"astronaut_small.png"' in r.stdout or "astronaut_small.png" in r.stdout
    return _dists_of(set(log.read_text().split()))


def test_the_scan_uses_every_base_requirement_but_the_named_few(scan_imports: set[str]) -> None:
    unused = BASE - scan_imports
    assert unused == set(NOT_ON_SCAN_PATH), (
        f"base requirements a scan does not load: {sorted(unused)}; move them to an extra, "
        f"or name the command that needs them in NOT_ON_SCAN_PATH"
    )


def test_the_scan_loads_no_extra(scan_imports: set[str]) -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    heavy = set()
    for name in ("ml", "faces", "keras", "ray", "serve", "ui", "metadata", "pdf"):
        heavy |= {d for d in _names(extras.get(name, [])) if d not in BASE}
    assert not (heavy & scan_imports), f"a plain scan loaded extras: {heavy & scan_imports}"
