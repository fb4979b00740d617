"""The relay checks each module's SAS token as edgeHub does (devtools/edgehub/tokens.py cites
the rules): one test per rule, with a plain paho client and tokens made by the SDK's own code."""

from __future__ import annotations

import dataclasses
import ssl
import threading
import time

import paho.mqtt.client as mqtt

from devtools.edgehub import EdgeHub
from tests.edgehub.credentials import Credentials, credentials
from tests.edgehub.sdk_module import SdkModule
from tests.support.waiting import wait_until

MODULE = "raw"  # connected only by these plain clients


class Probe:
    """A paho client that connects once with ``login`` and records the CONNACK code and when
    the connection ended."""

    def __init__(self, hub: EdgeHub, login: Credentials) -> None:
        assert hub.certificates is not None
        self.connack: int | None = None
        self.ended_at: float | None = None
        self._changed = threading.Condition()
        self.client = mqtt.Client(client_id=login.client_id, protocol=mqtt.MQTTv311)
        self.client.tls_set_context(ssl.create_default_context(cafile=str(hub.certificates.ca)))
        if login.username:
            self.client.username_pw_set(login.username, login.password or None)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.connect(hub.gateway_address(MODULE), 8883)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, rc: int) -> None:
        with self._changed:
            self.connack = rc
            self._changed.notify_all()

    def _on_disconnect(self, client: mqtt.Client, userdata: object, rc: int) -> None:
        with self._changed:
            self.ended_at = time.time()
            client.disconnect()  # no reconnect: one try is what is tested
            self._changed.notify_all()

    def wait_connack(self, timeout: float = 10) -> int:
        with self._changed:
            assert self._changed.wait_for(lambda: self.connack is not None, timeout), "no CONNACK"
            assert self.connack is not None
            return self.connack

    def wait_end(self, timeout: float) -> float:
        with self._changed:
            assert self._changed.wait_for(lambda: self.ended_at is not None, timeout), "still on"
            assert self.ended_at is not None
            return self.ended_at

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _refused(hub: EdgeHub, login: Credentials) -> str:
    """Connect with ``login``, expect CONNACK 5 (not authorized, as edgeHub answers an
    unauthenticated identity) and return the reason the emulator gives."""
    before = len(hub.refusals(MODULE))
    probe = Probe(hub, login)
    try:
        assert probe.wait_connack() == mqtt.CONNACK_REFUSED_NOT_AUTHORIZED
        probe.wait_end(10)  # and the connection is closed
    finally:
        probe.close()
    refusals = hub.refusals(MODULE)
    assert len(refusals) == before + 1
    return refusals[-1]


def test_a_token_signed_through_the_workload_api_connects(edgehub: EdgeHub) -> None:
    login = credentials(edgehub, MODULE, ttl=600)
    probe = Probe(edgehub, login)
    try:
        assert probe.wait_connack() == mqtt.CONNACK_ACCEPTED
        expiry = edgehub.token_expiries(MODULE)[-1]
        assert abs(expiry - (time.time() + 600)) < 30
    finally:
        probe.close()


def test_a_token_signed_with_another_key_is_refused(edgehub: EdgeHub) -> None:
    reason = _refused(edgehub, credentials(edgehub, MODULE, foreign_key=True))
    assert "signature" in reason


def test_a_token_for_another_module_is_refused(edgehub: EdgeHub) -> None:
    env = edgehub.module_env(MODULE)
    audience = f"{env['IOTEDGE_IOTHUBHOSTNAME']}/devices/{env['IOTEDGE_DEVICEID']}/modules/echo"
    assert "echo" in _refused(edgehub, credentials(edgehub, MODULE, audience=audience))


def test_a_token_for_another_hub_is_refused(edgehub: EdgeHub) -> None:
    env = edgehub.module_env(MODULE)
    audience = f"elsewhere.azure-devices.net/devices/{env['IOTEDGE_DEVICEID']}/modules/{MODULE}"
    assert "host" in _refused(edgehub, credentials(edgehub, MODULE, audience=audience))


def test_a_device_scope_token_is_refused(edgehub: EdgeHub) -> None:
    env = edgehub.module_env(MODULE)
    audience = f"{env['IOTEDGE_IOTHUBHOSTNAME']}/devices/{env['IOTEDGE_DEVICEID']}"
    assert "audience" in _refused(edgehub, credentials(edgehub, MODULE, audience=audience))


def test_an_expired_token_is_refused(edgehub: EdgeHub) -> None:
    assert "expired" in _refused(edgehub, credentials(edgehub, MODULE, ttl=-5))


def test_a_connect_without_a_token_is_refused(edgehub: EdgeHub) -> None:
    login = dataclasses.replace(credentials(edgehub, MODULE), password="")
    assert "password" in _refused(edgehub, login)


def test_a_client_id_that_is_not_the_identity_is_refused(edgehub: EdgeHub) -> None:
    login = dataclasses.replace(credentials(edgehub, MODULE), client_id="someone-else")
    assert "client id" in _refused(edgehub, login)


def test_a_username_without_api_version_is_refused(edgehub: EdgeHub) -> None:
    login = credentials(edgehub, MODULE)
    login = dataclasses.replace(login, username=login.username.split("?")[0] + "?x=1")
    assert "api-version" in _refused(edgehub, login)


def test_a_connection_is_closed_when_its_token_expires(edgehub: EdgeHub) -> None:
    before = edgehub.counters().tokens_expired
    login = credentials(edgehub, MODULE, ttl=3)
    expiry = int(login.password.rsplit("se=", 1)[1])
    probe = Probe(edgehub, login)
    try:
        assert probe.wait_connack() == mqtt.CONNACK_ACCEPTED
        ended = probe.wait_end(15)
    finally:
        probe.close()
    # Closed at the expiry (se is whole seconds), not before it and not long after.
    assert expiry - 0.5 <= ended < expiry + 3
    assert edgehub.counters().tokens_expired == before + 1


def test_the_sdks_own_token_renewal_passes_the_checks(edgehub: EdgeHub) -> None:
    # The SDK renews 120 s before expiry (then connects again with the new token): with a
    # 125 s token, 5 s after it is made.
    refused = len(edgehub.refusals(MODULE))
    module = SdkModule.start(edgehub.module_env(MODULE), report_patches=False, token_ttl=125)
    try:
        first = edgehub.token_expiries(MODULE)[-1]
        wait_until(lambda: edgehub.token_expiries(MODULE)[-1] > first, 30, "no renewal")
        edgehub.wait_for_connection(MODULE, timeout=30)
        module.run(module.client.patch_twin_reported_properties({"renewed": True}))
        assert edgehub.reported(MODULE).get("renewed") is True
    finally:
        module.shutdown()
    assert edgehub.refusals(MODULE)[refused:] == []
