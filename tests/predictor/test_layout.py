"""The predictor's import graph: no cycle, and a package's modules used from outside it only
when its ``__all__`` names them (docs/predictor.md, Layout)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.imports import imported_names, parse

PACKAGE = Path(__file__).resolve().parents[2] / "modules" / "predictor" / "predictor"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}
PACKAGES = {name for name, path in MODULES.items() if path.name == "__init__.py"}


def imported(path: Path) -> set[str]:
    """The predictor modules ``path`` imports, at the top, in a function or for type checking
    (an ``import_module`` of a literal name too): any of them can close a cycle."""
    tree = parse(path)
    names = imported_names(tree)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
        ):
            names.update(
                arg.value
                for arg in node.args
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            )
    return {name for name in names if name in MODULES}


GRAPH = {name: imported(path) - {name} for name, path in MODULES.items()}


def cycles() -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        for other in GRAPH[name]:
            if other not in index:
                visit(other)
                low[name] = min(low[name], low[other])
            elif other in stack:
                low[name] = min(low[name], index[other])
        if low[name] == index[name]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == name:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for name in sorted(GRAPH):
        if name not in index:
            visit(name)
    return found


def exported(package: str) -> set[str]:
    """The names a package's ``__all__`` lists."""
    for node in ast.parse(MODULES[package].read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            return set(ast.literal_eval(node.value))
    raise AssertionError(f"{package} has no __all__")


def test_the_graph_sees_the_imports_it_checks() -> None:
    # The checks below mean something only if the walk finds what is there.
    assert "predictor.models.manager" in GRAPH["predictor.app"]
    assert "predictor.iot.edge" in GRAPH["predictor.iot.lifecycle"]  # import_module("...")
    assert len(PACKAGES) >= 6


def test_no_predictor_module_imports_itself_through_others() -> None:
    assert cycles() == []


def test_a_cycle_would_be_found() -> None:
    GRAPH["predictor.models.events"].add("predictor.app")
    try:
        assert ["predictor.app", "predictor.models.events"] in [
            [m for m in group if m in ("predictor.app", "predictor.models.events")]
            for group in cycles()
        ]
    finally:
        GRAPH["predictor.models.events"].discard("predictor.app")


def bound(package: str) -> set[str]:
    """The names a package's ``__init__`` binds by import (a facade such as predictor.settings
    exports its modules' classes rather than the modules)."""
    return {
        alias.asname or alias.name
        for node in ast.parse(MODULES[package].read_text()).body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def test_every_package_says_what_other_packages_may_use() -> None:
    for package in PACKAGES:
        names = exported(package) - bound(package)
        missing = [n for n in names if f"{package}.{n}" not in MODULES and n != "__version__"]
        assert missing == [], f"{package}.__all__ names what it does not hold: {missing}"


def test_other_packages_import_only_what_a_package_exports() -> None:
    outside = []
    for name, imports in GRAPH.items():
        for target in imports:
            owner = target.rpartition(".")[0]
            if owner not in PACKAGES or owner == "predictor" or name.startswith(f"{owner}."):
                continue
            if name == owner or target.rpartition(".")[2] in exported(owner):
                continue
            outside.append(f"{name} imports {target}")
    assert outside == []
