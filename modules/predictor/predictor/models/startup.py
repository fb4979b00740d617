"""Which model serves at start: the cached one, else the bundled one, else none.

The cache holds the last model applied (``cache.py``); a cached model that fails its checks (or,
with a key configured, its signature) falls back to the bundled model, so that a bad cache never
leaves the module without a model it had.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from predictor.models import cache
from predictor.models.cache import CacheError
from predictor.models.contract import ModelError
from predictor.models.runtime import OnnxModel

if TYPE_CHECKING:  # cryptography is imported only when a key is configured
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

log = logging.getLogger(__name__)

SOURCE_CACHE = "cache"
SOURCE_BUNDLED = "bundled"


def select_at_start(
    cache_dir: Path,
    default_model: Path | None,
    *,
    threads: int = 1,
    public_key: Ed25519PublicKey | None = None,
) -> OnnxModel | None:
    """The cached model, else the bundled one (``default_model``), else None; logged."""
    model = _from_cache(cache_dir, threads, public_key)
    if model is None:
        model = _from_bundled(default_model, threads)
    if model is None:
        log.warning("no model to serve: the module runs but is not ready until one is applied")
    else:
        log.info(
            "model %s %s from %s now serving (sha256 %s)",
            model.name,
            model.version,
            model.source,
            model.sha256[:12],
        )
    return model


def _from_cache(
    cache_dir: Path, threads: int, public_key: Ed25519PublicKey | None
) -> OnnxModel | None:
    try:
        found = cache.read(cache_dir)
    except CacheError as exc:
        log.warning("cached model refused, using the bundled model instead: %s", exc)
        return None
    if found is None:
        log.info("no cached model in %s", cache_dir)
        return None
    data, entry = found
    if public_key is not None:
        from predictor.models.signature import SignatureError, verify

        try:
            verify(public_key, data, entry.signature)
        except SignatureError as exc:
            _log_refused(entry, exc)
            return None
    try:
        model = OnnxModel.from_bytes(data, SOURCE_CACHE, threads=threads, check_domains=False)
    except ModelError as exc:
        _log_refused(entry, exc)
        return None
    model.origin = {"applied_from": entry.source, "applied_at": entry.applied_at}
    if entry.supersedes:
        model.origin["supersedes"] = entry.supersedes
    return model


def _log_refused(entry: cache.CacheEntry, reason: Exception) -> None:
    log.error(
        "cached model %s (applied from %s) refused, using the bundled model instead: %s",
        entry.model_version,
        entry.source,
        reason,
    )


def _from_bundled(path: Path | None, threads: int) -> OnnxModel | None:
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        log.warning("no bundled model at %s", path)
        return None
    except OSError as exc:
        log.error("bundled model %s is unreadable: %s", path, exc)
        return None
    try:
        return OnnxModel.from_bytes(data, SOURCE_BUNDLED, threads=threads, check_domains=False)
    except ModelError as exc:
        log.error("bundled model %s refused: %s", path, exc)
        return None
