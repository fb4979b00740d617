"""What each part of the emulator's API (``hub.py``) works on: the hub's state under its lock,
and a module's key from its id."""

from __future__ import annotations

import json
import threading

from devtools.edgehub.dispatch import Dispatcher
from devtools.edgehub.records import Json
from devtools.edgehub.state import HubState, ModuleKey


def check_json(value: Json) -> bytes:
    """``value`` as JSON bytes, or ValueError saying why it cannot be JSON."""
    try:
        return json.dumps(value, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise ValueError(f"not JSON-serialisable: {error}") from error


class HubPart:
    """The attributes ``EdgeHub.__init__`` sets, which every part of its API reads."""

    device_id: str
    _state: HubState
    _lock: threading.Condition
    _dispatch: Dispatcher

    def _names(self) -> str:
        return ", ".join(module.name for module in self._state.modules.values())

    def _key(self, device_id: str | None, module_id: str) -> ModuleKey:
        key = (device_id or self.device_id, module_id)
        if key not in self._state.modules:
            raise KeyError(f"unknown module {key[0]}/{key[1]} (known: {self._names()})")
        return key
