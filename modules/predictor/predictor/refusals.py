"""Models refused for what their bytes are, kept on disk beside the cache so that a restart
does not try them again.

``refused.json`` in the cache directory lists the last ``KEEP`` sha256s with the reason and
when. Before a model from outside is checked, its sha256 is written there as "checking"; the
check's result replaces that entry (a refusal) or removes it (the model was fine). A module
killed mid-check (out of memory, a hard kill, a power cut) thus finds the model refused when it
starts again, instead of trying it again and again: no crash loop.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict

from predictor import cache

log = logging.getLogger(__name__)

FILE = "refused.json"
KEEP = 32
_REASON_CHARS = 500
INTERRUPTED = (
    "the module stopped while this model was being checked (killed, out of memory, or a power "
    "cut); it is not tried again"
)


class Refusal(TypedDict):
    sha256: str
    reason: str
    at: str


class Refusals:
    """The persisted refusals of one cache directory, read once, written on every change."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / FILE
        self._entries: dict[str, Refusal] | None = None  # read on first use: not at start

    def get(self, sha256: str) -> Refusal | None:
        """The refusal of ``sha256``, if one was recorded (or its check never finished)."""
        return self._read().get(sha256)

    def checking(self, sha256: str) -> None:
        """Mark ``sha256`` before its check: should the module die, it stays refused."""
        self.refuse(sha256, INTERRUPTED)

    def refuse(self, sha256: str, reason: str) -> None:
        """Record the refusal of ``sha256`` (the newest ``KEEP`` are kept)."""
        entries = self._read()
        entries.pop(sha256, None)  # re-inserted last: the newest
        entries[sha256] = Refusal(sha256=sha256, reason=reason[:_REASON_CHARS], at=_now())
        while len(entries) > KEEP:
            del entries[next(iter(entries))]
        self._write(entries)

    def forget(self, sha256: str) -> None:
        """Drop ``sha256`` (its check passed, or was stopped by a clean shutdown)."""
        entries = self._read()
        if entries.pop(sha256, None) is not None:
            self._write(entries)

    def _read(self) -> dict[str, Refusal]:
        if self._entries is None:
            self._entries = _load(self.path)
        return self._entries

    def _write(self, entries: dict[str, Refusal]) -> None:
        data = json.dumps({"refused": list(entries.values())}, indent=2).encode()
        try:
            if entries:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                cache.write_file(self.path, data)
            else:  # nothing refused: no file (a model that passed leaves none behind)
                self.path.unlink(missing_ok=True)
        except OSError as exc:
            # Kept in memory all the same; a disk that cannot take this file cannot take the
            # model either, and that cache write fails the update with the reason.
            log.warning("the refused-models file %s could not be written: %s", self.path, exc)


def _load(path: Path) -> dict[str, Refusal]:
    """The file's entries, oldest first; none if it is missing or unreadable (then it is
    rewritten whole on the next change)."""
    try:
        raw = json.loads(path.read_bytes())
        entries = {
            str(e["sha256"]): Refusal(
                sha256=str(e["sha256"]), reason=str(e["reason"]), at=str(e["at"])
            )
            for e in raw["refused"][-KEEP:]
        }
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, TypeError, KeyError) as exc:
        log.warning("the refused-models file %s is unreadable, starting afresh: %s", path, exc)
        return {}
    return entries


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
