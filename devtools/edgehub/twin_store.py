"""edgeHub's store of module twins, and what it answers from it while IoT Hub is out of reach.

Follows edge-hub/core/src/Microsoft.Azure.Devices.Edge.Hub.Core/twin/StoringTwinManager.cs and
TwinStore.cs:

- a twin GET is answered from IoT Hub when edgeHub is online, and that twin is stored; offline,
  from the store, or, with nothing stored, with a new empty twin: exactly
  ``{"desired":{},"reported":{}}``, no ``$version`` (TwinMessageConverter.cs writes the two
  collections as they are);
- a reported patch is validated (ReportedPropertiesValidator.cs), merged into the stored twin
  (a twin holding only it is stored when there was none), and kept until IoT Hub has it:
  at once when online, when edgeHub reconnects otherwise;
- when edgeHub reconnects it first sends IoT Hub the reported patches it kept, then, for each
  connected module whose twin it has stored and did not read in the last two minutes, reads the
  twin and sends the module the difference between the stored and the new desired section as
  one desired patch (``$version`` included). A module with no stored twin gets nothing.

Every function here runs under ``HubState.lock``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from typing import Any

from devtools.edgehub.state import ModuleState
from devtools.edgehub.twin import JsonObject, diff, merge_patch, validate_reported

# StoringTwinManager.cs: DefaultMinTwinSyncPeriod. A twin read from IoT Hub less than this long
# ago is not read again when edgeHub reconnects, so no catch-up patch is sent for it.
MIN_TWIN_SYNC_SECONDS = 120.0

EMPTY_TWIN: JsonObject = {"desired": {}, "reported": {}}


def get_twin(module: ModuleState, offline: bool) -> JsonObject:
    """The body of the answer to this module's twin GET."""
    if offline:
        return copy.deepcopy(module.stored if module.stored is not None else EMPTY_TWIN)
    document = module.twin.document()
    _store(module, document)
    return document


def take_reported(module: ModuleState, patch: Mapping[str, Any], offline: bool) -> None:
    """Validate (ReportedPatchError) and store a reported patch; IoT Hub gets it now if online."""
    validate_reported(patch)
    stored = module.stored if module.stored is not None else copy.deepcopy(EMPTY_TWIN)
    _merge(stored.setdefault("reported", {}), patch)
    module.stored = stored
    if offline:
        module.unsynced.append(copy.deepcopy(dict(patch)))
    else:
        module.twin.reported.apply(patch)


def desired_patch_for(module: ModuleState, patch: Mapping[str, Any], version: int) -> JsonObject:
    """What edgeHub (online) sends a connected module when IoT Hub sends it a desired patch:
    the patch if the stored desired ``$version`` is the one before (the store is updated), or
    else the whole difference from the stored twin (UpdateDesiredPropertiesAsync)."""
    stored = module.stored
    body = {**copy.deepcopy(dict(patch)), "$version": version}
    if stored is None:
        return body
    desired = stored.setdefault("desired", {})
    if desired.get("$version") == version - 1:
        _merge(desired, patch)
        desired["$version"] = version
        return body
    document = module.twin.document()
    change = diff(desired, document["desired"])
    _store(module, document)
    return change


def reconnect(module: ModuleState) -> JsonObject | None:
    """edgeHub is online again: sync the kept reported patches to IoT Hub, then the desired
    patch to send the module (None: none, as edgeHub's DeviceConnectedCallback)."""
    for patch in module.unsynced:
        module.twin.reported.apply(patch)
    module.unsynced.clear()
    stored = module.stored
    if stored is None or not module.online:
        return None
    if module.stored_at is not None and time.monotonic() - module.stored_at < MIN_TWIN_SYNC_SECONDS:
        return None
    document = module.twin.document()
    change = diff(stored.get("desired", {}), document["desired"])
    _store(module, document)
    return change or None


def forget(module: ModuleState) -> None:
    """edgeHub restarted with an empty store: no stored twin, nothing kept for IoT Hub."""
    module.stored = None
    module.stored_at = None
    module.unsynced.clear()


def _store(module: ModuleState, document: JsonObject) -> None:
    module.stored = copy.deepcopy(document)
    module.stored_at = time.monotonic()


def _merge(target: JsonObject, patch: Mapping[str, Any]) -> None:
    # TwinStore.cs merges with JsonEx.Merge, null deleting; $-keys are the service's own.
    merge_patch(target, patch)
