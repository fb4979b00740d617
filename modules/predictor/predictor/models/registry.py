"""The models a device serves: the default model and any number of named ones, a slot each.

Each slot is a ``ModelManager``: its own running model, ONNX Runtime session, cache and hot
swap. The default slot is today's single model (the twin's ``model`` property, the bundled
model, the cache directory's root) and serves under its contract's name. A named slot (a key
of the twin's ``models``) caches in ``<cache dir>/models/<name>/`` and is restored from there
at start, on its own.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from predictor.models.events import Change, Listener
from predictor.models.manager import ModelManager
from predictor.models.runtime import OnnxModel

log = logging.getLogger(__name__)

NAMED_DIR = "models"
SHADOW_DIR = "shadows"
# A name is a URL path segment, an IoT Edge input name and a directory name: keep it plain.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ModelNameError(ValueError):
    """A model name that cannot be served; the message says why."""


def check_name(name: object) -> str:
    """``name`` if it can name a model slot; ModelNameError otherwise."""
    if not isinstance(name, str) or not _NAME.match(name) or name in (".", ".."):
        shown = repr(name)[:70]
        raise ModelNameError(
            f"model name {shown} is not valid: 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


class ModelRegistry:
    """Every slot, found by name; events of every slot reach every listener."""

    def __init__(self, default: ModelManager, *, max_named: int = 16) -> None:
        self.default = default
        self.cache_dir = default.cache_dir
        self.threads = default.threads
        self.max_named = max_named
        self._named: dict[str, ModelManager] = {}
        # Shadow slots, keyed by the name of the live model they shadow (iot/shadow_control.py
        # fills them from the twin; shadow_runner.py compares them with the live model).
        self.shadow_slots: dict[str, ModelManager] = {}
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        """``listener`` hears every slot's events, those of slots made later included."""
        self._listeners.append(listener)
        for slot in self.slots():
            slot.subscribe(listener)

    def slots(self) -> Iterator[ModelManager]:
        yield self.default
        yield from self._named.values()

    @property
    def named(self) -> dict[str, ModelManager]:
        """The named slots by name (a copy)."""
        return dict(self._named)

    def slot(self, name: str) -> ModelManager:
        """The named slot ``name``, made empty if it is new (ModelNameError past ``max_named``)."""
        slot = self._named.get(name)
        if slot is not None:
            return slot
        check_name(name)
        if len(self._named) >= self.max_named:
            raise ModelNameError(
                f"{self.max_named} named models are loaded already (PREDICTOR_MAX_MODELS); "
                f"unload one before adding {name!r}"
            )
        slot = self._new_slot(NAMED_DIR, name)
        for listener in self._listeners:
            slot.subscribe(listener)
        self._named[name] = slot
        return slot

    def shadow_slot(self, name: str) -> ModelManager:
        """The shadow slot for the live model ``name``, made empty if it is new.

        Shadows do not count towards ``max_named``: one per served model at most.
        """
        slot = self.shadow_slots.get(name)
        if slot is None:
            check_name(name)
            slot = self._new_slot(SHADOW_DIR, name)
            self.shadow_slots[name] = slot
        return slot

    def shadow_of(self, name: str) -> OnnxModel | None:
        slot = self.shadow_slots.get(name)
        return None if slot is None else slot.current

    async def drop_shadow(self, name: str) -> bool:
        """Stop the shadow of ``name`` and drop its cache; False if there was none."""
        return await _drop(self.shadow_slots, name, "shadow of %s removed")

    def _new_slot(self, folder: str, name: str) -> ModelManager:
        """An empty slot, with the default slot's threads, signing key and check limits."""
        default = self.default
        return ModelManager(
            self.cache_dir / folder / name,
            None,
            threads=default.threads,
            name=name,
            public_key=default.public_key,
            check=default.check,
        )

    def find(self, name: str | None) -> OnnxModel | None:
        """The model serving under ``name`` (None: the default model), or None.

        A named slot comes first; the default model also answers to its contract's name.
        """
        if name is None:
            return self.default.current
        slot = self._named.get(name)
        if slot is not None:
            return slot.current
        default = self.default.current
        return default if default is not None and default.name == name else None

    def served(self) -> list[OnnxModel]:
        """Every model serving now: the default first, then the named ones by name."""
        models = [] if self.default.current is None else [self.default.current]
        models += [s.current for _, s in sorted(self._named.items()) if s.current is not None]
        return models

    async def load_at_start(self) -> None:
        """The default slot as before; then each named model found in the cache, on its own."""
        await self.default.load_at_start()
        root = self.cache_dir / NAMED_DIR
        names = await asyncio.to_thread(_cached_names, root)
        for name in names:
            try:
                slot = self.slot(name)
            except ModelNameError as exc:
                log.warning("cached model directory %s skipped: %s", root / name, exc)
                continue
            await slot.load_at_start()
            if slot.current is None:  # nothing usable cached: no slot
                self._named.pop(name, None)
        for name in await asyncio.to_thread(_cached_names, self.cache_dir / SHADOW_DIR):
            try:
                shadow = self.shadow_slot(name)
            except ModelNameError:
                continue
            await shadow.load_at_start()
            if shadow.current is None:
                self.shadow_slots.pop(name, None)

    async def unload(self, name: str) -> bool:
        """Stop serving the named model ``name`` and drop its cache; False if it was not there."""
        return await _drop(self._named, name, "model %s unloaded")


async def _drop(slots: dict[str, ModelManager], name: str, done: str) -> bool:
    """Take ``name``'s slot out of ``slots``, unload its model and delete its cache."""
    slot = slots.pop(name, None)
    if slot is None:
        return False
    slot.swap(None, Change.UNLOADED)
    await asyncio.to_thread(shutil.rmtree, slot.cache_dir, True)
    log.info(done, name)
    return True


def _cached_names(root: Path) -> list[str]:
    try:
        return sorted(path.name for path in root.iterdir() if path.is_dir())
    except FileNotFoundError:
        return []
    except OSError as exc:
        log.warning("cached models in %s are unreadable: %s", root, exc)
        return []
