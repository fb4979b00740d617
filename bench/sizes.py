"""Installed size of a requirements file's packages and everything they pull in.

Read from the installed distributions' RECORD files (the dev venv holds both stacks), so it
is the size on this machine's platform; the arm64 wheels differ a little.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def top_level(requirements: Path) -> list[str]:
    """The package names pinned in a requirements file (``-r`` lines and comments skipped)."""
    names: list[str] = []
    for raw in requirements.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.append(canonicalize_name(Requirement(line).name))
    return names


def closure(names: list[str]) -> list[str]:
    """``names`` and their installed dependencies (extras and other platforms' markers skipped)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for spec in metadata.distribution(name).requires or []:
            requirement = Requirement(spec)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            todo.append(canonicalize_name(requirement.name))
    return sorted(seen)


def installed_bytes(name: str) -> int:
    total = 0
    for file in metadata.distribution(name).files or []:
        path = Path(str(file.locate()))
        if path.is_file():
            total += path.stat().st_size
    return total


def stack_size(requirements: Path) -> dict[str, int]:
    """Bytes per installed package of the stack that ``requirements`` describes."""
    return {name: installed_bytes(name) for name in closure(top_level(requirements))}
