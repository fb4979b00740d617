"""The emulator's API on module twins: desired changes pushed as edgeHub pushes them, what the
modules reported, and edgeHub without IoT Hub (twin_store.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from devtools.edgehub import twin_store
from devtools.edgehub.hub_part import HubPart, check_json
from devtools.edgehub.state import ModuleKey
from devtools.edgehub.twin import check_patch


class TwinControl(HubPart):
    """Module twins: set desired, read reported, take edgeHub offline and back."""

    def set_desired(
        self, module_id: str, patch: Mapping[str, Any], device_id: str | None = None
    ) -> int:
        """Merge ``patch`` into the desired properties in IoT Hub, bump ``$version`` and, if
        edgeHub is online, push it to the module (a module that is offline reads the whole twin
        when it reconnects; while edgeHub is offline, it gets the change when edgeHub comes
        online, if edgeHub has its twin stored). Returns the new ``$version``."""
        key = self._key(device_id, module_id)
        check_json(check_patch(patch))  # before the twin changes
        with self._lock:
            module = self._state.modules[key]
            version = module.twin.desired.apply(patch)
            if self._state.offline:
                return version
            body = twin_store.desired_patch_for(module, patch, version)
            self._state.counters.desired_patches_sent += 1
        self._push_desired(key, body)
        return version

    def _push_desired(self, key: ModuleKey, body: Mapping[str, Any]) -> None:
        version = body.get("$version", "")
        topic = f"$iothub/twin/PATCH/properties/desired/?$version={version}"
        # QoS 0: like IoT Hub, a patch is not queued for an offline module.
        self._state.publish(key, topic, json.dumps(body).encode(), qos=0)

    # -- edgeHub without IoT Hub ---------------------------------------------------------------

    def go_offline(self, *, forget_twins: bool = False) -> None:
        """edgeHub loses IoT Hub: twin GETs are answered from its store (twin_store.py), or
        with an empty twin ``{"desired":{},"reported":{}}`` (no ``$version``) when it has none
        stored; reported patches are validated, stored and kept for IoT Hub; desired changes
        wait. ``forget_twins``: edgeHub also restarted with an empty store (nothing stored,
        nothing kept), as a new edgeHub container without a storage volume."""
        with self._lock:
            self._state.offline = True
            if forget_twins:
                for module in self._state.modules.values():
                    twin_store.forget(module)

    def come_online(self) -> None:
        """edgeHub reaches IoT Hub again: the reported patches it kept reach the twins, and
        each connected module whose twin edgeHub has stored (and did not read in the last two
        minutes) gets one desired patch with what changed meanwhile."""
        patches: list[tuple[ModuleKey, dict[str, Any]]] = []
        with self._lock:
            self._state.offline = False
            for key, module in self._state.modules.items():
                if (patch := twin_store.reconnect(module)) is not None:
                    patches.append((key, patch))
                    self._state.counters.desired_catch_ups += 1
            self._lock.notify_all()
        for key, patch in patches:
            self._push_desired(key, patch)

    @property
    def offline(self) -> bool:
        return self._state.offline

    def stored_twin(self, module_id: str, device_id: str | None = None) -> dict[str, Any] | None:
        """edgeHub's stored copy of the twin (what it answers offline), or None."""
        key = self._key(device_id, module_id)
        with self._lock:
            stored = self._state.modules[key].stored
            return None if stored is None else json.loads(json.dumps(stored))

    def refused_reports(self, module_id: str, device_id: str | None = None) -> list[str]:
        """Why each reported patch of this module that edgeHub's rules refused was refused
        (the module only sees a 400 with an empty body)."""
        key = self._key(device_id, module_id)
        with self._lock:
            return list(self._state.modules[key].refused)

    def twin(self, module_id: str, device_id: str | None = None) -> dict[str, Any]:
        """The twin as a twin GET returns it: ``{"desired": {...}, "reported": {...}}``."""
        key = self._key(device_id, module_id)
        with self._lock:
            return self._state.modules[key].twin.document()

    def reported(self, module_id: str, device_id: str | None = None) -> dict[str, Any]:
        """The reported properties, with ``$version``."""
        key = self._key(device_id, module_id)
        with self._lock:
            return self._state.modules[key].twin.reported.document()

    def wait_for_reported(
        self,
        module_id: str,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float = 30.0,
        device_id: str | None = None,
    ) -> dict[str, Any]:
        """Wait until ``predicate(reported)`` is true and return the reported properties."""
        key = self._key(device_id, module_id)
        found: dict[str, Any] = {}

        def ready() -> bool:
            nonlocal found
            found = self._state.modules[key].twin.reported.document()
            return bool(predicate(found))

        with self._lock:
            if not self._lock.wait_for(ready, timeout):
                raise TimeoutError(
                    f"reported properties of {key[0]}/{key[1]} did not match in {timeout} s; "
                    f"last: {json.dumps(found)[:2000]}"
                )
        return found
