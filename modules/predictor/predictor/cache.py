"""The on-disk cache of the last applied model, written so that a power cut never corrupts it.

Layout in the cache directory::

    <sha256>.onnx   the model bytes, named by their own hash
    current.json    the sidecar: which file is current, its sha256, size, version and source

The sidecar's rename is the commit point. A power cut before it leaves the previous sidecar
pointing at the previous (still present) model; after it, the new one. At start-up the file is
hashed and compared with the sidecar, so a truncated or altered file is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

SIDECAR = "current.json"


class CacheError(Exception):
    """The cache holds no usable model; the message says why."""


@dataclass(frozen=True)
class CacheEntry:
    """The sidecar's content."""

    file: str
    sha256: str
    size: int
    model_name: str
    model_version: str
    source: str
    applied_at: str


def write(directory: Path, data: bytes, entry: CacheEntry) -> None:
    """Store ``data`` as the current model, atomically, then drop older model files."""
    directory.mkdir(parents=True, exist_ok=True)
    _write_atomic(directory / entry.file, data)
    # The model's rename must be durable before the sidecar can point at it.
    _fsync_directory(directory)
    _write_atomic(directory / SIDECAR, json.dumps(asdict(entry), indent=2).encode())
    _fsync_directory(directory)
    for old in [*directory.glob("*.onnx"), *directory.glob(".*.tmp")]:
        if old.name != entry.file:
            old.unlink(missing_ok=True)


def read(directory: Path) -> tuple[bytes, CacheEntry] | None:
    """The cached model and its sidecar; None when there is no cache; CacheError when unusable."""
    sidecar = directory / SIDECAR
    if not sidecar.exists():
        return None
    try:
        raw = json.loads(sidecar.read_bytes())
        entry = CacheEntry(**raw)
    except (OSError, ValueError, TypeError) as exc:
        raise CacheError(f"the cache sidecar {sidecar} is unreadable: {exc}") from exc
    if Path(entry.file).name != entry.file or not entry.file.endswith(".onnx"):
        raise CacheError(f"the cache sidecar names an unexpected file {entry.file!r}")
    path = directory / entry.file
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CacheError(f"the cached model {path} is unreadable: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != entry.size or digest != entry.sha256:
        raise CacheError(
            f"the cached model {path} is corrupt: {len(data)} bytes with sha256 {digest[:12]}, "
            f"the sidecar says {entry.size} bytes with sha256 {entry.sha256[:12]}"
        )
    return data, entry


def write_file(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably (for other files kept beside the
    cache: a power cut leaves the old content or the new, never a mix)."""
    _write_atomic(path, data)
    _fsync_directory(path.parent)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same directory, fsync it, then rename it over ``path``."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temp).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(temp).unlink()
        raise


def _fsync_directory(directory: Path) -> None:
    """Make the renames themselves durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
