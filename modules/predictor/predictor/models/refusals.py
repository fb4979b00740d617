"""Models refused for what their bytes are, kept on disk beside the cache so that a restart
does not try them again; and the checks that a kill or a power cut cut short, counted.

``refused.json`` in the cache directory lists the last ``KEEP`` sha256s with the reason and
when. Before a model from outside is checked, its sha256 is written there as "checking", with
the number of checks of it that were cut short so far (``interruptions``, this one included);
the check's result replaces that entry (a refusal) or removes it (the model was fine).

A module that finds a "checking" entry at start was stopped during that check: killed, out of
memory, or a power cut. One interruption is far more often a power cut, a redeploy or edgeAgent
restarting the module than a hostile model, so the model is checked again; only after
``max_interruptions`` of them (``PREDICTOR_MODEL_CHECK_INTERRUPTIONS``) is it refused, so that a
model that kills the whole module cannot crash-loop it.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import NotRequired, TypedDict

from predictor.models import cache

log = logging.getLogger(__name__)

FILE = "refused.json"
KEEP = 32
DEFAULT_INTERRUPTIONS = 3
_REASON_CHARS = 500
# Found at start, this mark means the module stopped during that check.
CHECKING = "being checked (found at start: the check was cut short by a kill or a power cut)"
# What a "checking" mark said before marks were counted: such an entry counts as one.
_UNCOUNTED = "the module stopped while this model was being checked"
INTERRUPTED = (
    "the module stopped {count} times while this model was being checked (killed, out of "
    "memory, or a power cut); it is not tried again (PREDICTOR_MODEL_CHECK_INTERRUPTIONS)"
)


class Refusal(TypedDict):
    sha256: str
    reason: str
    at: str
    # Checks of this model cut short (the entry is a "checking" mark while it is set).
    interruptions: NotRequired[int]


class Refusals:
    """The persisted refusals of one cache directory, read once, written on every change."""

    def __init__(self, directory: Path, max_interruptions: int = DEFAULT_INTERRUPTIONS) -> None:
        self.path = directory / FILE
        self.max_interruptions = max_interruptions
        self._entries: dict[str, Refusal] | None = None  # read on first use: not at start

    def get(self, sha256: str) -> Refusal | None:
        """The refusal of ``sha256``, if it is refused: recorded so, or its check was cut short
        ``max_interruptions`` times (then with that reason)."""
        entry = self._read().get(sha256)
        if entry is None:
            return None
        count = entry.get("interruptions")
        if count is None:
            return entry
        if count < self.max_interruptions:
            return None  # checked again
        return Refusal(sha256=sha256, reason=INTERRUPTED.format(count=count), at=entry["at"])

    def interruptions(self, sha256: str) -> int:
        """How many checks of ``sha256`` were cut short so far (0: none, or it is refused)."""
        entry = self._read().get(sha256)
        return 0 if entry is None else entry.get("interruptions", 0)

    def checking(self, sha256: str) -> None:
        """Mark ``sha256`` before its check, counting it as cut short until it ends."""
        count = self.interruptions(sha256) + 1
        self._put(Refusal(sha256=sha256, reason=CHECKING, at=_now(), interruptions=count))

    def stopped(self, sha256: str) -> None:
        """The check of ``sha256`` was stopped cleanly (a shutdown): not an interruption, but
        the earlier ones still count."""
        count = self.interruptions(sha256) - 1
        if count <= 0:
            self.forget(sha256)
        else:
            self._put(Refusal(sha256=sha256, reason=CHECKING, at=_now(), interruptions=count))

    def refuse(self, sha256: str, reason: str) -> None:
        """Record the refusal of ``sha256`` (the newest ``KEEP`` are kept)."""
        self._put(Refusal(sha256=sha256, reason=reason[:_REASON_CHARS], at=_now()))

    def forget(self, sha256: str) -> None:
        """Drop ``sha256`` (its check passed)."""
        entries = self._read()
        if entries.pop(sha256, None) is not None:
            self._write(entries)

    def _put(self, entry: Refusal) -> None:
        entries = self._read()
        entries.pop(entry["sha256"], None)  # re-inserted last: the newest
        entries[entry["sha256"]] = entry
        while len(entries) > KEEP:
            del entries[next(iter(entries))]
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


def _entry(raw: dict[str, object]) -> Refusal:
    entry = Refusal(sha256=str(raw["sha256"]), reason=str(raw["reason"]), at=str(raw["at"]))
    count = raw.get("interruptions")
    if count is not None:
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError(f"interruptions must be a positive whole number, not {count!r}")
        entry["interruptions"] = count
    elif entry["reason"].startswith(_UNCOUNTED):
        entry["interruptions"] = 1  # written by a version that refused it at once
    return entry


def _load(path: Path) -> dict[str, Refusal]:
    """The file's entries, oldest first; none if it is missing or unreadable (then it is
    rewritten whole on the next change)."""
    try:
        raw = json.loads(path.read_bytes())
        entries = {str(e["sha256"]): _entry(e) for e in raw["refused"][-KEEP:]}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        log.warning("the refused-models file %s is unreadable, starting afresh: %s", path, exc)
        return {}
    return entries


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
