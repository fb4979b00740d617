"""MQTT credentials for a plain paho client, made the way the SDK makes them: the username
``host/device/module/?api-version=...`` and a SAS token from the SDK's own ``RenewableSasToken``,
signed through the emulator's workload API (``IoTEdgeHsm``, as a module on a device signs) or,
to break a rule on purpose, with another key, audience or expiry."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass

from azure.iot.device.common.auth.sastoken import RenewableSasToken
from azure.iot.device.common.auth.signing_mechanism import SymmetricKeySigningMechanism
from azure.iot.device.iothub.edge_hsm import IoTEdgeHsm

from devtools.edgehub import EdgeHub

API_VERSION = "2019-10-01"  # what the SDK puts in its username


@dataclass(frozen=True)
class Credentials:
    client_id: str
    username: str
    password: str


def credentials(
    hub: EdgeHub,
    module: str,
    *,
    ttl: int = 3600,
    audience: str | None = None,
    foreign_key: bool = False,
) -> Credentials:
    """Credentials for ``module``; ``audience`` replaces the token's ``sr``, ``foreign_key``
    signs with a key that is not the module's, a negative ``ttl`` makes it expired."""
    env = hub.module_env(module)
    host, device = env["IOTEDGE_IOTHUBHOSTNAME"], env["IOTEDGE_DEVICEID"]
    signer: IoTEdgeHsm | SymmetricKeySigningMechanism = IoTEdgeHsm(
        module_id=module,
        generation_id=env["IOTEDGE_MODULEGENERATIONID"],
        workload_uri=env["IOTEDGE_WORKLOADURI"],
        api_version=env["IOTEDGE_APIVERSION"],
    )
    if foreign_key:
        signer = SymmetricKeySigningMechanism(base64.b64encode(secrets.token_bytes(32)).decode())
    uri = audience or f"{host}/devices/{device}/modules/{module}"
    token = RenewableSasToken(uri, signer, ttl=ttl)
    return Credentials(
        client_id=f"{device}/{module}",
        username=f"{host}/{device}/{module}/?api-version={API_VERSION}",
        password=str(token),
    )
