"""The twin's ``shadow``: a candidate per served model, its comparison reported, and promotion.

Desired ``shadow`` is keyed by the name of a served model (a named model, or the default model's
contract name); each value is a target like ``model``'s, plus an optional ``promote``:
``{"min_rows": N, "min_agreement": x}``. The candidate is downloaded and checked like any model
(``slots.TwinSlots``), then sees the rows its live model sees (``shadow.ShadowRunner``, through
the data plane). Its reported entry under ``shadow`` carries the comparison, sent at most every
``PREDICTOR_REPORT_INTERVAL_SECONDS``. With ``promote``, a candidate that qualifies is applied to
the live slot (source ``shadow``), and the target the live model had is not applied over it again
while the twin still names it.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Protocol

from predictor.dataplane import DataPlane
from predictor.iot.reporter import TwinReporter
from predictor.iot.slots import Targets, TwinSlots
from predictor.models.contract import ModelError
from predictor.models.manager import ModelManager
from predictor.models.registry import ModelRegistry
from predictor.models.runtime import OnnxModel
from predictor.storage.target import ModelTarget, TargetError
from predictor.storage.update_state import now, running_state
from predictor.storage.updater import ModelUpdater, Report

log = logging.getLogger(__name__)

SOURCE_SHADOW = "shadow"


@dataclass(frozen=True)
class Promotion:
    """When a shadow becomes live: enough rows compared, and enough of them agreeing."""

    min_rows: int
    min_agreement: float

    @classmethod
    def parse(cls, value: Any) -> Promotion | None:
        """``promote`` of a desired shadow (None: never promote); TargetError if malformed."""
        if value is None:
            return None
        if not isinstance(value, dict):
            raise TargetError("desired shadow 'promote' must be an object")
        rows, agreement = value.get("min_rows"), value.get("min_agreement")
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
            raise TargetError("desired shadow 'promote.min_rows' must be a whole number >= 1")
        if (
            isinstance(agreement, bool)
            or not isinstance(agreement, int | float)
            or not math.isfinite(agreement)
            or not 0 <= agreement <= 1
        ):
            raise TargetError("desired shadow 'promote.min_agreement' must be between 0 and 1")
        return cls(rows, float(agreement))


class ShadowSlots:
    """The twin's ``shadow``: the registry's shadow slots, and their comparisons in the plane."""

    def __init__(self, plane: DataPlane, registry: ModelRegistry) -> None:
        self.plane = plane
        self.registry = registry

    @property
    def names(self) -> Collection[str]:
        return self.registry.shadow_slots

    def open(self, name: str) -> ModelManager:
        return self.registry.shadow_slot(name)

    async def close(self, name: str) -> bool:
        self.plane.forget_shadow(name)
        return await self.registry.drop_shadow(name)

    def settled(self, name: str, target: ModelTarget) -> dict[str, Any] | None:
        """The state to report instead of loading a candidate that already serves live (it
        was promoted, or the live model was set to it): no shadow of a model by itself."""
        live = self.registry.find(name)
        if live is None or live.sha256 != target.sha256:
            return None
        return {**running_state(live), "status": "live"}

    def configure(self, name: str, target: ModelTarget | None) -> None:
        pass  # a shadow has no options of its own


class ShadowTargets:
    """The twin's targets, where a shadow's entry may also carry ``promote``."""

    def __init__(self, targets: Targets) -> None:
        self.targets = targets

    def parse(self, value: Any) -> ModelTarget:
        Promotion.parse(value.get("promote") if isinstance(value, dict) else None)
        return self.targets.parse(value)

    def updater(self, slot: ModelManager, report: Report) -> ModelUpdater:
        return self.targets.updater(slot, report)


class LiveReport(Protocol):
    """Where a promotion reports what now serves under a name."""

    async def report_live(self, name: str, model: OnnxModel) -> None: ...


class ShadowControl:
    """Keeps the shadows in line with desired ``shadow``, reports them, promotes them."""

    def __init__(
        self,
        plane: DataPlane,
        registry: ModelRegistry,
        targets: Targets,
        reporter: TwinReporter,
        *,
        live: LiveReport,
        interval: float,
    ) -> None:
        self.plane = plane
        self.live = live
        self.registry = registry
        self.targets = ShadowTargets(targets)
        self.interval = interval
        self.slots = TwinSlots("shadow", ShadowSlots(plane, registry), self.targets, reporter)
        self._promoting: set[str] = set()

    def handle(self, value: Any, *, whole: bool) -> None:
        self.slots.handle(value, whole=whole)

    async def run(self) -> None:
        """Every ``interval``: report the comparisons that changed, promote what qualifies."""
        while True:
            await asyncio.sleep(self.interval)
            for name in list(self.registry.shadow_slots):
                try:
                    await self.tick(name)
                except Exception:  # one shadow's trouble must not stop the others' reports
                    log.exception("shadow of %s: report or promotion failed", name)

    async def tick(self, name: str) -> None:
        """Report ``name``'s comparison if it changed; promote the shadow if it qualifies."""
        slot = self.registry.shadow_slots.get(name)
        stats = self.plane.shadow_stats(name)
        if slot is None or slot.current is None or stats is None:
            return
        comparison = stats.report()
        promotion = self._promotion(name)
        agreement = stats.agreement
        if (
            promotion is not None
            and agreement is not None
            and stats.rows >= promotion.min_rows
            and agreement >= promotion.min_agreement
            and name not in self._promoting
        ):
            await self._promote(name, slot, comparison)
            return
        # The reporter sends it only if it changed, and keeps it until edgeHub has it.
        if comparison != (self.slots.last_report(name) or {}).get("comparison"):
            await self.slots.report(name, {**running_state(slot.current), "comparison": comparison})

    def _promotion(self, name: str) -> Promotion | None:
        desired = self.slots.desired.get(name) or {}
        try:
            return Promotion.parse(desired.get("promote"))
        except TargetError:
            return None  # refused when the target was submitted

    def _live_slot(self, name: str) -> ModelManager | None:
        named = self.registry.named.get(name)
        if named is not None:
            return named
        default = self.registry.default
        current = default.current
        return default if current is not None and current.name == name else None

    async def _promote(self, name: str, shadow: ModelManager, comparison: dict[str, Any]) -> None:
        live = self._live_slot(name)
        candidate = shadow.current
        if live is None or candidate is None:
            return
        self._promoting.add(name)
        try:
            replaced = live.current
            data = await asyncio.to_thread(shadow.model_bytes, candidate)
            desired = self.slots.desired.get(name) or {}
            signature = desired.get("signature") if isinstance(desired, dict) else None
            model = await live.apply(
                data,
                SOURCE_SHADOW,
                expected_name=name,
                signature=signature if isinstance(signature, str) else None,
                supersedes=None if replaced is None else replaced.sha256,
            )
        except ModelError as exc:
            log.warning("shadow of %s not promoted: %s", name, exc)
            return
        finally:
            self._promoting.discard(name)
        log.info(
            "shadow of %s promoted: %s %s now serving (%s rows compared, agreement %s)",
            name,
            model.name,
            model.version,
            comparison["rows"],
            comparison["agreement"],
        )
        await self.slots.drop(name)
        # Reported once more, after the drop deleted the key: the operator sees it was promoted.
        await self.slots.report(
            name,
            {
                "version": model.version,
                "sha256": model.sha256,
                "status": "promoted",
                "error": None,
                "updatedAt": now(),
                "source": SOURCE_SHADOW,
                "comparison": comparison,
            },
        )
        await self.live.report_live(name, model)
