"""What the hub keeps: one record per module, and what the hub's threads share under one lock.

The API (the tests' thread), the fault controls and the MQTT side (one paho thread per broker)
all read and change this state; ``HubState.lock`` guards every field and is notified on each
change that someone may wait for.
"""

from __future__ import annotations

import base64
import logging
import secrets
import threading
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt

from devtools.edgehub.broker import Broker
from devtools.edgehub.inputs import DEFAULT_TIME_TO_LIVE, ModuleInputs
from devtools.edgehub.records import Counters, Json, RejectedMessage, UpstreamMessage
from devtools.edgehub.relay import Relay
from devtools.edgehub.twin import Twin

log = logging.getLogger("devtools.edgehub")

ModuleKey = tuple[str, str]  # (device id, module id)


def _access_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass
class ModuleState:
    """One module: its identity and twin from the start; once the emulator runs, its loopback
    address, its broker, the relay in front of it, and the hub's client of that broker."""

    key: ModuleKey
    access_key: str = field(default_factory=_access_key)  # in the module's connection string
    twin: Twin = field(default_factory=Twin)
    address: str | None = None
    broker: Broker | None = None
    relay: Relay | None = None
    client: mqtt.Client | None = None
    inputs: ModuleInputs | None = None
    hub_connections: int = 0  # times the hub (re)connected to this broker and subscribed
    online: bool = False  # the module is connected to its broker
    methods_subscribed: bool = False  # it subscribed to direct methods (kept by its session)
    departures: list[str] = field(default_factory=list)  # how it left, each time

    @property
    def name(self) -> str:
        return f"{self.key[0]}/{self.key[1]}"


@dataclass
class PendingMethod:
    """A direct method call waiting for the module's answer."""

    key: ModuleKey
    event: threading.Event = field(default_factory=threading.Event)
    status: int = 0
    payload: Json = None
    size: int = 0  # the answer's bytes


class HubState:
    """The modules, counters, upstream sink, refused messages and method calls in flight."""

    def __init__(
        self,
        keys: list[ModuleKey],
        time_to_live: float = DEFAULT_TIME_TO_LIVE,
        inputs_in_flight: int = 1,
    ) -> None:
        self.lock = threading.Condition()
        self.time_to_live = time_to_live  # seconds an input may wait for its module
        self.inputs_in_flight = inputs_in_flight  # per module, unacknowledged
        self.modules: dict[ModuleKey, ModuleState] = {key: ModuleState(key) for key in keys}
        self.counters = Counters()
        self.upstream: list[UpstreamMessage] = []
        self.rejected: list[RejectedMessage] = []
        self.methods: dict[str, PendingMethod] = {}
        self.closed = False

    def set_online(self, key: ModuleKey, online: bool) -> None:
        with self.lock:
            module = self.modules[key]
            if online and not module.online:
                self.counters.module_connects += 1
            module.online = online
            self.lock.notify_all()

    def inputs(self, key: ModuleKey) -> ModuleInputs:
        inputs = self.modules[key].inputs
        if inputs is None:
            raise RuntimeError("the emulator is not started")
        return inputs

    def publish(self, key: ModuleKey, topic: str, payload: bytes, qos: int) -> None:
        """Publish on this module's broker with the hub's client of it."""
        client = self.modules[key].client
        if client is None or self.closed:
            raise RuntimeError("the emulator is not started")
        info = client.publish(topic, payload, qos=qos)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.warning("publish to %s: %s", topic, mqtt.error_string(info.rc))
