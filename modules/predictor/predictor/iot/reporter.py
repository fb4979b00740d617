"""The one way to the module twin's reported properties: values in, patches out.

Every part of the module that reports (the default ``model``, each named model under ``models``,
each shadow under ``shadow``, each model's ``drift``, the ``runtime``) sets a *part*: a top-level
property (``("model",)``) or one name under one (``("models", "leaf")``). The reporter sends the
parts that changed, together, in as few patches as fit edgeHub's 32 KB, and keeps what edgeHub
has not taken for the next ``flush`` (a reconnect flushes).

Each part is checked first by edgeHub's own rules (``twin_rules.py``). A part edgeHub would
refuse, or one it refused anyway (400), is logged once with its reason, counted, and not sent
again until its value changes; the other parts go on without it. Names under a property are
escaped (``twin_rules.twin_key``) so that any model name fits; values hold labels, never keys.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from predictor.iot.twin_rules import MAX_PATCH_BYTES, patch_bytes, refusal, twin_key

log = logging.getLogger(__name__)

Json = Any
Part = tuple[str, ...]  # ("runtime",) or ("models", "leaf"): one property, or one name under it


class ReportRefusedError(Exception):
    """edgeHub refused the patch (a 4xx answer): the same patch would be refused again."""


# Sends one patch; raises ReportRefusedError when edgeHub refuses it, anything else to try later.
SendPatch = Callable[[dict[str, Json]], Awaitable[None]]
OnRefused = Callable[[Part, str], None]


def _patch(parts: dict[Part, Json]) -> dict[str, Json]:
    patch: dict[str, Json] = {}
    for part, value in parts.items():
        if len(part) == 1:
            patch[part[0]] = value
        else:
            patch.setdefault(part[0], {})[twin_key(part[1])] = value
    return patch


def _shown(part: Part) -> str:
    return ".".join(part)[:100]


class TwinReporter:
    """Keeps what the module means to report and what edgeHub has taken, part by part."""

    def __init__(self, send: SendPatch, *, on_refused: OnRefused | None = None) -> None:
        self._send = send
        self._on_refused = on_refused
        self._values: dict[Part, Json] = {}  # what the module means to report
        self._sent: dict[Part, Json] = {}  # what edgeHub took last
        self._refused: dict[Part, Json] = {}  # refused values: not sent again unchanged
        self._pending: set[Part] = set()
        self._lock = asyncio.Lock()

    # -- values in --------------------------------------------------------------------------

    def set(self, part: Part, value: Json) -> None:
        """Report ``value`` under ``part`` with the next flush (None deletes the key)."""
        if not 1 <= len(part) <= 2:
            raise ValueError(f"a reported part is a property or one name under it, not {part}")
        value = copy.deepcopy(value)
        self._values[part] = value
        if part in self._refused and self._refused[part] == value:
            self._pending.discard(part)
            return
        self._refused.pop(part, None)
        if part not in self._pending and part in self._sent and self._sent[part] == value:
            return
        self._pending.add(part)

    async def report(self, part: Part, value: Json) -> bool:
        """``set`` and ``flush``: True when edgeHub has everything."""
        self.set(part, value)
        return await self.flush()

    def value(self, part: Part) -> Json:
        """The value last set for ``part`` (None: none, or deleted)."""
        return copy.deepcopy(self._values.get(part))

    def names(self, prop: str) -> list[str]:
        """The names under ``prop`` that hold a value."""
        parts = self._values.items()
        return [p[1] for p, v in parts if len(p) == 2 and p[0] == prop and v is not None]

    @property
    def pending(self) -> frozenset[Part]:
        """The parts edgeHub has not taken yet (refused ones are not pending)."""
        return frozenset(self._pending)

    # -- patches out ------------------------------------------------------------------------

    async def flush(self) -> bool:
        """Send every pending part; True when none is left pending (all taken or refused)."""
        async with self._lock:
            batch = {part: self._values.get(part) for part in sorted(self._pending)}
            if not batch:
                return True
            good: dict[Part, Json] = {}
            for part, value in batch.items():
                reason = refusal(_patch({part: value}))
                if reason is None:
                    good[part] = value
                else:
                    self._refuse(part, value, reason)
            for group in self._groups(good):
                if not await self._send_group(group):
                    return False
            return not self._pending

    @staticmethod
    def _groups(parts: dict[Part, Json]) -> list[dict[Part, Json]]:
        """The parts in patches of at most 32 KB each, in order."""
        groups: list[dict[Part, Json]] = []
        current: dict[Part, Json] = {}
        for part, value in parts.items():
            if current and patch_bytes(_patch({**current, part: value})) > MAX_PATCH_BYTES:
                groups.append(current)
                current = {}
            current[part] = value
        if current:
            groups.append(current)
        return groups

    async def _send_group(self, group: dict[Part, Json]) -> bool:
        """Send one patch; a refused one part by part, so that a bad part holds back no other.
        False when edgeHub could not be reached (all of it stays pending)."""
        try:
            await self._send(_patch(group))
        except ReportRefusedError as exc:
            if len(group) == 1:
                [(part, value)] = group.items()
                self._refuse(part, value, f"edgeHub refused it: {exc}")
                return True
            for part, value in group.items():
                if not await self._send_group({part: value}):
                    return False
            return True
        except Exception as exc:
            log.warning(
                "could not report %s (kept for later): %s",
                ", ".join(_shown(p) for p in group),
                str(exc) or type(exc).__name__,
            )
            return False
        for part, value in group.items():
            self._sent[part] = value
            if self._values.get(part) == value:  # not changed meanwhile
                self._pending.discard(part)
        return True

    def _refuse(self, part: Part, value: Json, reason: str) -> None:
        log.warning("reported %s refused, not sent again unchanged: %s", _shown(part), reason)
        self._refused[part] = value
        if self._values.get(part) == value:
            self._pending.discard(part)
        if self._on_refused is not None:
            self._on_refused(part, reason)
