"""Who this module is, for what must differ from device to device (the random source of
``pacing.py``): ``IOTEDGE_DEVICEID`` and ``IOTEDGE_MODULEID`` as IoT Edge sets them, else the
``DeviceId`` and ``ModuleId`` of ``EdgeHubConnectionString`` (a simulator, the tests' emulator)."""

from __future__ import annotations

import os
from collections.abc import Mapping


def module_identity(environ: Mapping[str, str] | None = None) -> str | None:
    """``device/module``, or None when neither source names the device."""
    env = os.environ if environ is None else environ
    device, module = env.get("IOTEDGE_DEVICEID"), env.get("IOTEDGE_MODULEID")
    if not device:
        parts = dict(
            item.partition("=")[::2]
            for item in env.get("EdgeHubConnectionString", "").split(";")
            if "=" in item
        )
        device, module = parts.get("DeviceId"), parts.get("ModuleId")
    if not device:
        return None
    return f"{device}/{module or ''}"
