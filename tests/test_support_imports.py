"""What the tests share lives in ``tests/support/``: a test folder imports no other test folder's
module, its conftest.py included (a folder's conftest.py re-exports the shared fixtures it takes
from ``tests/support``). A helper used by one folder alone stays in that folder."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import PROCESS_MODULES

TESTS = Path(__file__).resolve().parent


def module_file(name: str, tests: Path) -> Path | None:
    """The file of test module ``name`` (``tests.x.y``) under ``tests``, or None."""
    first, *rest = name.split(".")
    if first != tests.name:
        return None
    path = tests.joinpath(*rest)
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_files(path: Path, tests: Path) -> set[Path]:
    """The test modules ``path`` imports: ``from tests.x import y`` counts ``tests/x/y.py`` when
    that is a module, and ``tests/x/__init__.py`` otherwise."""
    package = path.relative_to(tests.parent).parent.parts
    found: set[Path] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            choices = [[alias.name] for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            choices = [[f"{base}.{alias.name}", base] for alias in node.names]
        else:
            continue
        for names in choices:
            files = [file for name in names if (file := module_file(name, tests)) is not None]
            if files:
                found.add(files[0])
    return found


def crossings(tests: Path) -> list[str]:
    """Every import, under ``tests``, of another folder's test module outside ``tests/support``."""
    support = tests / "support"
    wrong = []
    for path in sorted(tests.rglob("*.py")):
        for target in sorted(imported_files(path, tests)):
            if target.parent != path.parent and not target.is_relative_to(support):
                importer, imported = (p.relative_to(tests.parent) for p in (path, target))
                wrong.append(f"{importer} imports {imported}")
    return wrong


def test_test_folders_share_helpers_only_through_tests_support() -> None:
    assert crossings(TESTS) == [], "move what two folders share to tests/support/"


def test_the_lane_table_names_test_modules_that_exist() -> None:
    # A helper moved without its entry would put the tests that use it in the unit lane.
    stale = [
        name
        for name in sorted(PROCESS_MODULES)
        if name.startswith(f"{TESTS.name}.") and module_file(name, TESTS) is None
    ]
    assert stale == [], "tests/conftest.py's PROCESS_MODULES names modules that are gone"


def test_the_check_finds_imports_of_another_folders_module_or_conftest(tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    for folder in ("iot", "reliability", "support"):
        (tests / folder).mkdir(parents=True)
        (tests / folder / "__init__.py").write_text("")
    (tests / "iot" / "blobs.py").write_text("")
    (tests / "iot" / "conftest.py").write_text("")
    (tests / "support" / "waiting.py").write_text("")
    (tests / "iot" / "test_own.py").write_text(
        "from tests.iot import blobs\nfrom . import blobs\nfrom tests.iot.conftest import V1\n"
    )
    (tests / "reliability" / "test_a.py").write_text(
        "from tests.iot.blobs import upload\nimport tests.support.waiting\n"
        "from tests.support import waiting\n"
    )
    (tests / "reliability" / "test_b.py").write_text("from tests.iot.conftest import V1\n")
    (tests / "reliability" / "test_c.py").write_text("from ..iot import blobs\n")
    assert crossings(tests) == [
        "tests/reliability/test_a.py imports tests/iot/blobs.py",
        "tests/reliability/test_b.py imports tests/iot/conftest.py",
        "tests/reliability/test_c.py imports tests/iot/blobs.py",
    ]
