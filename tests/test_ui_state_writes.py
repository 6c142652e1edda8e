"""Screens and widgets change the app's state through methods that say what changes, never by
assigning its fields (``self.lk.operation = …`` made the app a god object: issue 14)."""

from __future__ import annotations

import ast
from pathlib import Path

UI = Path(__file__).resolve().parents[1] / "src" / "lookalike" / "ui"


def _owner_chain(node: ast.AST) -> list[str]:
    names: list[str] = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        names.append(node.id)
    return names[::-1]


def _writes(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for t in targets:
            chain = _owner_chain(t)
            if len(chain) >= 3 and chain[0] == "self" and chain[1] in ("lk", "app"):
                found.append((node.lineno, ".".join(chain)))
    return found


def test_screens_and_widgets_do_not_assign_the_apps_fields() -> None:
    bad = []
    for path in sorted([*UI.glob("screens/*.py"), *UI.glob("widgets/*.py")]):
        for line, what in _writes(ast.parse(path.read_text(encoding="utf-8"))):
            bad.append(f"{path.relative_to(UI)}:{line}: {what} = …")
    assert not bad, "call a method of the app or its state instead:\n" + "\n".join(bad)


def test_the_check_sees_a_planted_write() -> None:
    tree = ast.parse("class S:\n    def f(self):\n        self.lk.review.member = 2\n")
    assert _writes(tree) == [(3, "self.lk.review.member")]
