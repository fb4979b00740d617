"""A local stand-in for Azure IoT Edge's edgeHub: real mosquitto over TLS plus a small hub.

Modules use the real azure-iot-device SDK (``create_from_edge_environment()`` with the variables
from ``EdgeHub.module_env``). See docs/edgehub-emulator.md.
"""

from __future__ import annotations

from devtools.edgehub.dispatch import UndeliverableError
from devtools.edgehub.hub import DEFAULT_DEVICE, MAX_MESSAGE_BYTES, EdgeHub
from devtools.edgehub.records import Counters, RejectedMessage, UpstreamMessage
from devtools.edgehub.routes import Manifest, Route, RouteError, load_manifest, parse_routes

__all__ = [
    "DEFAULT_DEVICE",
    "MAX_MESSAGE_BYTES",
    "Counters",
    "EdgeHub",
    "Manifest",
    "RejectedMessage",
    "Route",
    "RouteError",
    "UndeliverableError",
    "UpstreamMessage",
    "load_manifest",
    "parse_routes",
]
