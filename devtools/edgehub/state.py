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
from collections import deque
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt

from devtools.edgehub.broker import Broker
from devtools.edgehub.inputs import DeliveryRules, ModuleInputs
from devtools.edgehub.records import Counters, Json, RejectedMessage, UpstreamMessage
from devtools.edgehub.relay import Relay
from devtools.edgehub.twin import JsonObject, Twin

log = logging.getLogger("devtools.edgehub")

ModuleKey = tuple[str, str]  # (device id, module id)
# The hub the modules' tokens name.
IOTHUB_HOSTNAME = "edgehub-emulator.azure-devices.net"


def _access_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass
class ModuleState:
    """One module: its identity and twin from the start; once the emulator runs, its loopback
    address, its broker, the relay in front of it, and the hub's client of that broker."""

    key: ModuleKey
    access_key: str = field(default_factory=_access_key)  # signs its tokens (workload API)
    generation_id: str = field(default_factory=lambda: secrets.token_hex(8))
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
    # edgeHub's own store of this twin (twin/StoringTwinManager.cs, TwinStore.cs): the twin
    # last read from IoT Hub, with the reported patches taken since merged in; None: none
    # stored. It answers twin GETs while edgeHub is offline.
    stored: JsonObject | None = None
    stored_at: float | None = None  # when it was last read from IoT Hub (monotonic)
    unsynced: list[JsonObject] = field(default_factory=list)  # reported, not yet in IoT Hub
    # Why each refused reported patch was refused, the token expiry of each accepted CONNECT,
    # and why each refused CONNECT was refused (the latest ones: a client refused in a loop
    # must not grow them for ever).
    refused: deque[str] = field(default_factory=lambda: deque(maxlen=1000))
    token_expiries: deque[float] = field(default_factory=lambda: deque(maxlen=1000))
    refusals: deque[str] = field(default_factory=lambda: deque(maxlen=1000))

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

    def __init__(self, keys: list[ModuleKey], rules: DeliveryRules | None = None) -> None:
        self.lock = threading.Condition()
        self.rules = rules or DeliveryRules()  # how inputs are delivered (inputs.py)
        self.modules: dict[ModuleKey, ModuleState] = {key: ModuleState(key) for key in keys}
        self.counters = Counters()
        self.upstream: list[UpstreamMessage] = []
        self.rejected: list[RejectedMessage] = []
        self.methods: dict[str, PendingMethod] = {}
        self.closed = False
        self.offline = False  # edgeHub cannot reach IoT Hub (EdgeHub.go_offline)

    def set_online(self, key: ModuleKey, online: bool) -> None:
        with self.lock:
            module = self.modules[key]
            changed = online != module.online
            if online and changed:
                self.counters.module_connects += 1
            module.online = online
            self.lock.notify_all()
        if changed and module.inputs is not None:  # outside the lock: it may publish
            module.inputs.connection(online)

    def gate_report(self, key: ModuleKey, event: str, detail: str) -> None:
        """What the module's relay did with a connection (relay.Gate)."""
        with self.lock:
            module = self.modules[key]
            if event == "accepted":
                module.token_expiries.append(float(detail))
            elif event == "refused":
                module.refusals.append(detail)
                self.counters.connects_refused += 1
                log.warning("%s: CONNECT refused: %s", module.name, detail)
            elif event == "expired":
                self.counters.tokens_expired += 1
                log.warning("%s: connection closed, its SAS token expired", module.name)
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
