"""What a Python file imports, read from its source (the test lanes and the predictor's layout
checks both ask)."""

from __future__ import annotations

import ast
from pathlib import Path


def imported_names(tree: ast.AST) -> set[str]:
    """Every module ``tree`` imports absolutely, and every ``module.name`` it imports from one,
    wherever the import stands (at the top, in a function, under ``TYPE_CHECKING``)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def parse(path: Path) -> ast.Module:
    """The syntax tree of the file at ``path`` (its errors name the file)."""
    return ast.parse(path.read_text(), str(path))
