"""A desired object keyed by model name (``models``, ``shadow``): a slot, an updater and a
reported entry per name.

The twin's ``models`` names the named models; ``shadow`` names a candidate per served model.
Both work the same way, written once here: a key with a target gets its slot and its own
update worker (one model's download never waits for another's), a key set to null (or missing
from the whole twin read after a connect) is dropped, and each key's state is reported under
the same property through the module's one ``TwinReporter``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection, Coroutine
from typing import Any, Protocol

from predictor.iot.reporter import TwinReporter
from predictor.models.manager import ModelManager
from predictor.models.registry import ModelNameError, ModelRegistry, check_name
from predictor.ranges import InputRanges
from predictor.storage.target import ModelTarget, TargetError
from predictor.storage.update_state import failed_state, running_state
from predictor.storage.updater import ModelUpdater, Report

log = logging.getLogger(__name__)


class Targets(Protocol):
    """How a desired entry becomes a target, and a slot gets its update worker."""

    def parse(self, value: Any) -> ModelTarget: ...

    def updater(self, slot: ModelManager, report: Report) -> ModelUpdater: ...


class SlotStore(Protocol):
    """Where one desired property's models live: the registry's named slots, or its shadows."""

    @property
    def names(self) -> Collection[str]:
        """The names that have a slot now."""
        ...

    def open(self, name: str) -> ModelManager:
        """``name``'s slot, made if new (ModelNameError: a bad name, or too many)."""
        ...

    async def close(self, name: str) -> bool:
        """Remove ``name``'s slot; True if it held a model."""
        ...

    def settled(self, name: str, target: ModelTarget) -> dict[str, Any] | None:
        """The state to report for a target that needs no slot (None: it needs one)."""
        ...

    def configure(self, name: str, target: ModelTarget | None) -> None:
        """Told each accepted target by name, and None when the name goes (per-model options)."""
        ...


class TwinSlots:
    """Keeps the slots of one desired property in line with it, and reports them."""

    def __init__(
        self, prop: str, store: SlotStore, targets: Targets, reporter: TwinReporter
    ) -> None:
        self.prop = prop
        self.store = store
        self.targets = targets
        self.reporter = reporter
        self.updaters: dict[str, tuple[ModelUpdater, asyncio.Task[None]]] = {}
        self.desired: dict[str, dict[str, Any]] = {}  # each key's desired value, as given
        self._background: set[asyncio.Task[None]] = set()

    def handle(self, value: Any, *, whole: bool) -> None:
        """Act on the desired property's value (a patch of it, or all of it when ``whole``)."""
        if value is None:
            value = {}
        if not isinstance(value, dict):
            log.warning("desired property %r refused: it is not an object", self.prop)
            return
        wanted = {key: item for key, item in value.items() if not key.startswith("$")}
        gone = [name for name, item in wanted.items() if item is None]
        if whole:
            gone += [name for name in self.store.names if name not in wanted]
        for name in gone:
            self._spawn(self.drop(name))
        for name, item in wanted.items():
            if item is not None:
                self._submit(name, item)

    def _submit(self, name: str, item: Any) -> None:
        try:
            check_name(name)
            target = self.targets.parse(item)
            state = self.store.settled(name, target)
            updater = None if state is not None else self._updater(name)
        except (TargetError, ModelNameError) as exc:
            log.warning("desired %s %s refused: %s", self.prop, name[:70], exc)
            if isinstance(exc, ModelNameError) and name not in self.store.names:
                return  # no slot, no reported key: an odd name must not grow the twin
            fields = item if isinstance(item, dict) else {}
            state = failed_state(fields.get("version"), fields.get("sha256"), str(exc))
            self._spawn(self.report(name, state))
            return
        self.store.configure(name, target)
        if updater is None:
            if (self.last_report(name) or {}).get("status") != (state or {}).get("status"):
                self._spawn(self._settle(name, state))
            return
        self.desired[name] = item
        updater.submit(target)

    async def _settle(self, name: str, state: dict[str, Any] | None) -> None:
        if name in self.store.names:
            await self.drop(name)
        await self.report(name, state)

    def _updater(self, name: str) -> ModelUpdater:
        entry = self.updaters.get(name)
        if entry is not None:
            return entry[0]
        slot = self.store.open(name)  # ModelNameError: a bad name, or too many

        async def report(state: dict[str, Any]) -> None:
            await self.report(name, state)

        updater = self.targets.updater(slot, report)
        task = asyncio.create_task(updater.run(), name=f"{self.prop}-updater-{name}")
        self.updaters[name] = (updater, task)
        return updater

    async def drop(self, name: str) -> None:
        """Stop and remove ``name``'s slot, and delete its reported key."""
        self.desired.pop(name, None)
        self.store.configure(name, None)
        entry = self.updaters.pop(name, None)
        if entry is not None:
            entry[1].cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await entry[1]
        if await self.store.close(name) or self.last_report(name) is not None:
            await self.report(name, None)

    async def report(self, name: str, state: dict[str, Any] | None) -> None:
        """Report ``name``'s state under the property (None deletes its key)."""
        await self.reporter.report((self.prop, name), state)

    def last_report(self, name: str) -> dict[str, Any] | None:
        value: dict[str, Any] | None = self.reporter.value((self.prop, name))
        return value

    def adopt(self, slots: dict[str, ModelManager]) -> None:
        """Report the slots restored from the cache at start, which no update reported yet."""
        for name, slot in slots.items():
            if self.last_report(name) is None:
                self.reporter.set((self.prop, name), running_state(slot.current))

    def tasks(self) -> list[asyncio.Task[None]]:
        return [task for _, task in self.updaters.values()]

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` beside the handler that asked for it, keeping a reference until done."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


class NamedSlots:
    """The twin's ``models``: the registry's named slots, each with its own input-range option."""

    def __init__(self, registry: ModelRegistry, ranges: InputRanges) -> None:
        self.registry = registry
        self.ranges = ranges

    @property
    def names(self) -> Collection[str]:
        return self.registry.named

    def open(self, name: str) -> ModelManager:
        return self.registry.slot(name)

    async def close(self, name: str) -> bool:
        return await self.registry.unload(name)

    def settled(self, name: str, target: ModelTarget) -> dict[str, Any] | None:
        return None  # a named model always loads into its own slot

    def configure(self, name: str, target: ModelTarget | None) -> None:
        self.ranges.override(name, None if target is None else target.input_range)
