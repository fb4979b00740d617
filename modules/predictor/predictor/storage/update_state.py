"""The reported state of a model update (the twin's ``model``, and each entry of ``models`` and
``shadow``): every one is built here, its texts capped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from predictor.models.runtime import OnnxModel
from predictor.reported import capped

SOURCE_TWIN = "twin"


def now(after: float = 0.0) -> str:
    """The time (``after`` seconds from now) as the reported properties write it."""
    moment = datetime.now(UTC) + timedelta(seconds=after)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def model_state(
    version: str | None,
    sha256: str | None,
    status: str,
    *,
    error: str | None = None,
    source: str | None = SOURCE_TWIN,
    **more: int | str,
) -> dict[str, Any]:
    """The reported ``model`` property. Every one is built here, its texts capped, so that a
    huge error (or an echoed desired value) cannot push the patch past the twin's limits.
    ``more``: a status's own fields (``attempt``, ``nextTryAt``, ``interruptedChecks``)."""
    return {
        "version": None if version is None else capped(version),
        "sha256": None if sha256 is None else capped(sha256),
        "status": status,
        "error": None if error is None else capped(error),
        "updatedAt": now(),
        "source": source,
        **more,
    }


def running_state(model: OnnxModel | None) -> dict[str, Any]:
    """The reported ``model`` property for what serves now (status ``applied``)."""
    if model is None:
        return model_state(None, None, "none", source=None)
    source = model.origin.get("applied_from", model.source) if model.origin else model.source
    return model_state(model.version, model.sha256, "applied", source=source)


def failed_state(version: Any, sha256: Any, error: str) -> dict[str, Any]:
    """The reported state of a desired model refused before any download (the desired value
    may hold anything: only strings are echoed)."""
    return model_state(
        version if isinstance(version, str) else None,
        sha256 if isinstance(sha256, str) else None,
        "failed",
        error=error,
    )
