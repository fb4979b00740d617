"""A build cache for artefacts that are slow to make (root file systems, images, wheels).

It lives in the user's cache folder (``$XDG_CACHE_HOME/iotedge-sklearn-onnx``, like pip's cache),
not in the checkout, so that a fresh clone on the same machine - CI's - reuses it; entries are
keyed by their inputs, so a stale one is never used. ``IOTEDGE_CACHE_DIR`` overrides the place.

Each entry is a file or folder named ``<name>-<key>``, where the key hashes everything the artefact
is made from (requirements files, package lists, a recipe version). An entry is built beside its
final name and renamed into place, so that an interrupted build never leaves a half entry, and
older entries of the same name are removed once a new one is in place.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = Path(
    os.environ.get("IOTEDGE_CACHE_DIR")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "iotedge-sklearn-onnx"
)


def digest(*parts: str | Path) -> str:
    """A short hash of strings and of files' contents (a Path is read, a str is hashed as is)."""
    hasher = hashlib.sha256()
    for part in parts:
        data = part.read_bytes() if isinstance(part, Path) else part.encode()
        hasher.update(len(data).to_bytes(8, "big"))
        hasher.update(data)
    return hasher.hexdigest()[:16]


@contextmanager
def locked(name: str, cache_dir: Path = CACHE_DIR) -> Iterator[None]:
    """Hold an exclusive lock on ``name``, so two test runs never build one entry at once."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with (cache_dir / f"{name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def entry(
    name: str,
    key: str,
    build: Callable[[Path], None],
    *,
    suffix: str = "",
    cache_dir: Path = CACHE_DIR,
) -> Path:
    """The cached ``<name>-<key><suffix>``; when missing, ``build(path)`` makes it at a
    temporary path first."""
    final = cache_dir / f"{name}-{key}{suffix}"
    with locked(name, cache_dir):
        if final.exists():
            return final
        partial = cache_dir / f".partial-{final.name}"
        _remove(partial)
        try:
            build(partial)
            if not partial.exists():
                raise RuntimeError(f"building the cache entry {final.name} made nothing")
            partial.rename(final)
        finally:
            _remove(partial)
        for old in cache_dir.glob(f"{name}-*{suffix}"):
            old_key = old.name.removeprefix(f"{name}-").removesuffix(suffix)
            if old != final and old_key.isalnum():
                _remove(old)
    return final


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
