"""The on-disk cache of the last applied model, written so that a power cut never corrupts it.

Layout in the cache directory::

    <sha256>.onnx   the model bytes, named by their own hash
    current.json    the sidecar: which file is current, its sha256, size, version, source and
                    signature (none for a model applied without one)

The sidecar's rename is the commit point. A power cut before it leaves the previous sidecar
pointing at the previous (still present) model; after it, the new one. At start-up the file is
hashed and compared with the sidecar, so a truncated or altered file is refused, and so is a
sidecar whose fields have the wrong types.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import typing
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

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
    # base64 Ed25519 over the model bytes, as the twin gave it. Sidecars written before this
    # field existed have none: read as an unsigned model.
    signature: str | None = None
    # The sha256 of the desired target this model replaced when it was promoted from a shadow:
    # that target, still named by the twin, is not applied again over it.
    supersedes: str | None = None


_FIELD_TYPES = typing.get_type_hints(CacheEntry)


def _entry(raw: Any) -> CacheEntry:
    """The sidecar's JSON as a CacheEntry; ValueError naming the first field missing or of the
    wrong type (a sidecar written by hand or by another version). Unknown keys are ignored."""
    if not isinstance(raw, dict):
        raise ValueError("it is not a JSON object")
    for field in fields(CacheEntry):
        if field.name not in raw:
            if field.default is not MISSING:  # a field added later: older sidecars lack it
                continue
            raise ValueError(f"it has no {field.name!r}")
        value, expected = raw[field.name], _FIELD_TYPES[field.name]
        # bool is an int to isinstance, but "size": true is no size.
        if isinstance(value, bool) or not isinstance(value, expected):
            wanted = getattr(expected, "__name__", str(expected))
            raise ValueError(f"its {field.name!r} is {type(value).__name__}, not {wanted}")
    return CacheEntry(**{f.name: raw[f.name] for f in fields(CacheEntry) if f.name in raw})


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
        entry = _entry(json.loads(sidecar.read_bytes()))
    except (OSError, ValueError) as exc:
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
