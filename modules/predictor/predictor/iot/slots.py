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
from collections.abc import Awaitable, Callable, Collection, Coroutine
from typing import Any

from predictor.iot.reporter import TwinReporter
from predictor.models.manager import ModelManager
from predictor.models.registry import ModelNameError, check_name
from predictor.storage.target import TargetError, parse_target
from predictor.storage.update_state import failed_state, running_state
from predictor.storage.updater import ModelUpdater, Report

log = logging.getLogger(__name__)


class TwinSlots:
    """Keeps the slots of one desired property in line with it, and reports them."""

    def __init__(
        self,
        prop: str,
        *,
        make_slot: Callable[[str], ModelManager],
        drop_slot: Callable[[str], Awaitable[bool]],
        present: Callable[[], Collection[str]],
        new_updater: Callable[[ModelManager, Report], ModelUpdater],
        reporter: TwinReporter,
        parse: Callable[[Any], Any] = parse_target,
        settled: Callable[[str, Any], dict[str, Any] | None] | None = None,
        configure: Callable[[str, Any], None] | None = None,
    ) -> None:
        self.prop = prop
        self._make_slot = make_slot
        self._drop_slot = drop_slot
        self._present = present
        self._new_updater = new_updater
        self.reporter = reporter
        self._parse = parse
        # A target that needs no slot (a shadow already serving live): the state to report.
        self._settled = settled
        # Told each accepted target by name, and None when the name goes (per-model options).
        self._configure = configure
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
            gone += [name for name in self._present() if name not in wanted]
        for name in gone:
            self._spawn(self.drop(name))
        for name, item in wanted.items():
            if item is not None:
                self._submit(name, item)

    def _submit(self, name: str, item: Any) -> None:
        try:
            check_name(name)
            target = self._parse(item)
            state = self._settled(name, target) if self._settled is not None else None
            updater = None if state is not None else self._updater(name)
        except (TargetError, ModelNameError) as exc:
            log.warning("desired %s %s refused: %s", self.prop, name[:70], exc)
            if isinstance(exc, ModelNameError) and name not in self._present():
                return  # no slot, no reported key: an odd name must not grow the twin
            fields = item if isinstance(item, dict) else {}
            state = failed_state(fields.get("version"), fields.get("sha256"), str(exc))
            self._spawn(self.report(name, state))
            return
        if self._configure is not None:
            self._configure(name, target)
        if updater is None:
            if (self.last_report(name) or {}).get("status") != (state or {}).get("status"):
                self._spawn(self._settle(name, state))
            return
        self.desired[name] = item
        updater.submit(target)

    async def _settle(self, name: str, state: dict[str, Any] | None) -> None:
        if name in self._present():
            await self.drop(name)
        await self.report(name, state)

    def _updater(self, name: str) -> ModelUpdater:
        entry = self.updaters.get(name)
        if entry is not None:
            return entry[0]
        slot = self._make_slot(name)  # ModelNameError: a bad name, or too many

        async def report(state: dict[str, Any]) -> None:
            await self.report(name, state)

        updater = self._new_updater(slot, report)
        task = asyncio.create_task(updater.run(), name=f"{self.prop}-updater-{name}")
        self.updaters[name] = (updater, task)
        return updater

    async def drop(self, name: str) -> None:
        """Stop and remove ``name``'s slot, and delete its reported key."""
        self.desired.pop(name, None)
        if self._configure is not None:
            self._configure(name, None)
        entry = self.updaters.pop(name, None)
        if entry is not None:
            entry[1].cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await entry[1]
        if await self._drop_slot(name) or self.last_report(name) is not None:
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
