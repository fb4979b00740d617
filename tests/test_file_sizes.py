"""No source file outside the tests is over ~300 lines: a module that grows past that does more
than one job, and is cut along its jobs (issue 27, "small modules, one responsibility each")."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("modules", "packages", "devtools", "bench")
MAX_LINES = 300
# Files not cut yet, at their length when this test came: each may only shrink, and leaves this
# list once it is cut (the test says so). The list only gets shorter.
NOT_CUT_YET: dict[str, int] = {}


def source_files() -> list[Path]:
    files = []
    for folder in SOURCES:
        for path in (REPO / folder).rglob("*.py"):
            parts = path.relative_to(REPO).parts
            if "tests" in parts or any(part.startswith(".") for part in parts):
                continue
            files.append(path)
    return files


def test_the_sources_are_found() -> None:
    names = {path.relative_to(REPO).as_posix() for path in source_files()}
    assert "modules/predictor/predictor/iot/edge.py" in names
    assert "devtools/edgehub/hub.py" in names
    assert "bench/fleet.py" in names


def line_counts() -> dict[str, int]:
    return {
        path.relative_to(REPO).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in source_files()
    }


def test_no_source_file_is_over_300_lines() -> None:
    counts = line_counts()
    long = {
        name: count for name, count in counts.items() if count > NOT_CUT_YET.get(name, MAX_LINES)
    }
    assert long == {}, f"cut these along their jobs: {long}"


def test_a_file_that_was_cut_leaves_the_list() -> None:
    counts = line_counts()
    done = [name for name, limit in NOT_CUT_YET.items() if counts.get(name, 0) <= MAX_LINES]
    assert done == [], f"{done} are at most {MAX_LINES} lines now: take them off NOT_CUT_YET"
