"""The layer contracts in pyproject.toml hold on this tree, and ``lint-imports`` really fails when
one is broken (a planted violation in a copy of src/). Plus what import-linter cannot see: no
SQL text in the clients (commands, UI, headless)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    if not LINT.exists():
        pytest.skip("import-linter is not installed (the [test] extra installs it)")
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [str(LINT), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tree")
    shutil.copytree(REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def _plant(root: Path, module: str, line: str) -> Path:
    path = root / "src" / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    return path


def test_the_contracts_hold_on_this_tree(tree_copy: Path) -> None:
    r = _lint(tree_copy)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("lookalike.engine.grouping", "import textual  # noqa", "never import the UI"),
        (
            "lookalike.engine.features.colour",
            "from lookalike.engine import catalog  # noqa",
            "Features and media never import the orchestration",
        ),
        (
            "lookalike.ui.select",
            "from lookalike.engine import ml_stage  # noqa",
            "without importing a heavy stage",
        ),
        ("lookalike.commands.export", "import sqlite3  # noqa", "never SQL"),
        (
            "lookalike.engine.actions.journal",
            "from lookalike import config  # noqa",
            "only through engine.settings",
        ),
        (
            "lookalike.headless.output",
            "from lookalike.commands import common  # noqa",
            "never import the command line",
        ),
    ],
)
def test_a_planted_violation_breaks_the_lint(
    tree_copy: Path, module: str, line: str, contract: str
) -> None:
    path = _plant(tree_copy, module, line)
    original = path.read_text(encoding="utf-8").removesuffix(f"\n{line}\n")
    try:
        r = _lint(tree_copy)
    finally:
        path.write_text(original, encoding="utf-8")
    assert r.returncode != 0
    text = " ".join(r.stdout.split())  # long contract names wrap
    assert text.count(" BROKEN") == 1, r.stdout
    broken_name = text.split(" BROKEN")[0].rsplit(" KEPT", 1)[-1]
    assert contract in broken_name, r.stdout


SQL = re.compile(r"\.execute(many)?\(|\b(SELECT|INSERT|UPDATE|DELETE)\s+.*\b(FROM|INTO|SET)\b")


def test_clients_hold_no_sql() -> None:
    """commands/, ui/, headless/ and serve/ call engine methods; SQL text lives in the engine."""
    src = REPO / "src" / "lookalike"
    hits = [
        f"{p.relative_to(src)}:{n}: {line.strip()}"
        for folder in ("commands", "ui", "headless", "serve")
        for p in sorted((src / folder).rglob("*.py"))
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if SQL.search(line)
    ]
    assert not hits, "SQL in a client (add a Catalog/Journal method instead):\n" + "\n".join(hits)


def test_the_architecture_page_names_only_modules_that_exist() -> None:
    """docs/architecture.md stays true: every module path it names is in src/lookalike."""
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"\b((?:[a-z_]+/)*[a-z_]+\.py)\b", text))
    assert len(named) > 30
    src = REPO / "src" / "lookalike"
    everywhere = {p.name for p in src.rglob("*.py")}
    missing = [
        p
        for p in sorted(named)
        if not p.startswith("test")
        and not ((src / p).exists() or (src / "engine" / p).exists())
        and ("/" in p or p not in everywhere)  # a bare name: in some room of the tree
    ]
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"
