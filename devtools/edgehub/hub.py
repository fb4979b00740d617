"""The edgeHub emulator: a mosquitto broker plus a hub client that plays edgeHub's part.

Modules use the real azure-iot-device SDK against the broker; the hub (paho-mqtt, in a thread of
this process) keeps module twins, answers twin requests, pushes desired patches, routes module
outputs to module inputs or to an in-memory upstream sink, and invokes direct methods.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import secrets
import shutil
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt

from devtools.edgehub import hub_client
from devtools.edgehub.addresses import MQTTS_PORT, AddressLease
from devtools.edgehub.broker import Broker, render_config
from devtools.edgehub.certs import Certificates, make_certificates
from devtools.edgehub.inputs import ModuleInputs
from devtools.edgehub.records import Counters, Json, RejectedMessage, UpstreamMessage
from devtools.edgehub.relay import Relay
from devtools.edgehub.routes import Route, parse_routes
from devtools.edgehub.topics import (
    Message,
    check_id,
    decode_properties,
    events_properties,
    input_topic,
    query,
)
from devtools.edgehub.twin import Twin, check_patch
from devtools.ports import free_port

log = logging.getLogger("devtools.edgehub")

DEFAULT_DEVICE = "edge-device"
IOTHUB_HOSTNAME = "edgehub-emulator.azure-devices.net"
MAX_MESSAGE_BYTES = 256 * 1024  # edgeHub refuses larger messages
ModuleKey = tuple[str, str]


@dataclass
class _Pending:
    key: ModuleKey
    event: threading.Event = field(default_factory=threading.Event)
    status: int = 0
    payload: Json = None


def _check_json(value: Json) -> bytes:
    """``value`` as JSON bytes, or ValueError saying why it cannot be JSON."""
    try:
        return json.dumps(value, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise ValueError(f"not JSON-serialisable: {error}") from error


def _body_bytes(body: bytes | str | Json) -> tuple[bytes, bool]:
    """The wire body, and whether it was JSON-encoded here."""
    if isinstance(body, bytes):
        return body, False
    if isinstance(body, str):
        return body.encode("utf-8"), False
    return _check_json(body), True


def _as_routes(routes: Mapping[str, Any] | Iterable[str | Route]) -> list[Route]:
    if isinstance(routes, Mapping):
        return parse_routes(routes)
    given = list(routes)
    parsed = [r for r in given if isinstance(r, Route)]
    texts = [r for r in given if not isinstance(r, Route)]
    if parsed and texts:
        raise ValueError("give routes either as Route objects or as route strings, not both")
    return parsed or parse_routes(texts)


class EdgeHub:
    """A running edgeHub emulator. Use ``EdgeHub.start(...)`` or ``with EdgeHub(...) as hub``.

    ``modules`` names the modules that may connect (ids on ``device_id``, or ``(device, module)``
    pairs); modules named in routes are added. Each gets its own loopback address.
    """

    def __init__(
        self,
        state_dir: Path,
        routes: Mapping[str, Any] | Iterable[str | Route] = (),
        modules: Iterable[str | ModuleKey] = (),
        device_id: str = DEFAULT_DEVICE,
        upstream_file: Path | None = None,
    ) -> None:
        self.state_dir = Path(state_dir).resolve()  # the env it hands out must work anywhere
        self.device_id = check_id("device", device_id)
        self.routes = _as_routes(routes)
        keys: list[ModuleKey] = []
        for entry in modules:
            key = (device_id, entry) if isinstance(entry, str) else entry
            keys.append((check_id("device", key[0]), check_id("module", key[1])))
        for route in self.routes:
            for name in (route.module, route.sink_module):
                if name is not None:
                    keys.append((device_id, name))
        self._modules = list(dict.fromkeys(keys))
        if not self._modules:
            raise ValueError("the emulator needs at least one module (from modules or routes)")
        self.upstream_file = upstream_file
        self._lock = threading.Condition()
        self._twins: dict[ModuleKey, Twin] = {key: Twin() for key in self._modules}
        self._keys = {
            key: base64.b64encode(secrets.token_bytes(32)).decode() for key in self._modules
        }
        self._upstream: list[UpstreamMessage] = []
        self._rejected: list[RejectedMessage] = []
        self._methods: dict[str, _Pending] = {}
        self._inputs: dict[ModuleKey, ModuleInputs] = {}
        self._counters = Counters()
        self._lease: AddressLease | None = None
        self._addresses: dict[ModuleKey, str] = {}
        self._brokers: dict[ModuleKey, Broker] = {}
        self._relays: dict[ModuleKey, Relay] = {}
        self._clients: dict[ModuleKey, mqtt.Client] = {}
        self._connections: dict[ModuleKey, int] = {}
        self._online: dict[ModuleKey, bool] = {key: False for key in self._modules}
        self._departures: dict[ModuleKey, list[str]] = {key: [] for key in self._modules}
        self._closed = False
        self.certificates: Certificates | None = None

    # -- life cycle -------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        state_dir: Path,
        routes: Mapping[str, Any] | Iterable[str | Route] = (),
        modules: Iterable[str | ModuleKey] = (),
        device_id: str = DEFAULT_DEVICE,
        upstream_file: Path | None = None,
    ) -> EdgeHub:
        """Start the brokers and the hub, and return once all are ready."""
        hub = cls(state_dir, routes, modules, device_id, upstream_file)
        hub.open()
        return hub

    def open(self) -> None:
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        self._lease = AddressLease(len(self._modules))
        self._addresses = dict(zip(self._modules, self._lease.addresses, strict=True))
        self.certificates = make_certificates(self.state_dir / "certs", self._lease.addresses)
        brokers_dir = self.state_dir / "brokers"
        # A fresh start has no old sessions; restarts within this run keep them (persistence).
        shutil.rmtree(brokers_dir, ignore_errors=True)
        for key in self._modules:
            folder = brokers_dir / f"{key[0]}.{key[1]}"
            address = self._addresses[key]
            port = free_port(address)
            broker = Broker(
                folder, render_config(folder, self.certificates, address, port), [(address, port)]
            )
            self._brokers[key] = broker
            self._relays[key] = Relay((address, MQTTS_PORT), (address, port))
            # Whatever happens to this object, no broker outlives the process.
            weakref.finalize(self, broker.kill)
            broker.start()
            self._counters.broker_starts += 1
            self._connect_hub(key)
        log.info("edgeHub emulator ready: %s", ", ".join(f"{d}/{m}" for d, m in self._modules))

    def _connect_hub(self, key: ModuleKey) -> None:
        assert self.certificates is not None
        client = hub_client.new_client(self.certificates.ca, userdata=key)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_disconnect = self._on_disconnect
        self._clients[key] = client
        self._inputs[key] = ModuleInputs(client)
        self._connections[key] = 0
        # Straight to the broker, not through the relay: the hub is not the SDK.
        client.connect(*self._brokers[key].endpoints[0], keepalive=30)
        client.loop_start()
        self._wait_connections(key, 1, timeout=15)

    def close(self) -> None:
        """Stop the hub and the brokers and release the addresses. Safe to call twice."""
        self._closed = True
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                client.disconnect()
            client.loop_stop()
        self._clients.clear()
        for relay in self._relays.values():
            relay.close()
        for broker in self._brokers.values():
            broker.stop()
        if self._lease is not None:
            self._lease.release()
            self._lease = None
        with self._lock:
            for pending in self._methods.values():
                pending.event.set()
            self._lock.notify_all()

    def __enter__(self) -> EdgeHub:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- the brokers, for reliability tests --------------------------------------------------

    def _selected(self, module_id: str | None, device_id: str | None) -> list[ModuleKey]:
        if not self._brokers:
            raise RuntimeError("the emulator is not started")
        return list(self._brokers) if module_id is None else [self._key(device_id, module_id)]

    def broker(self, module_id: str, device_id: str | None = None) -> Broker:
        """The mosquitto that this module connects to."""
        return self._brokers[self._selected(module_id, device_id)[0]]

    def kill_broker(self, module_id: str | None = None, device_id: str | None = None) -> None:
        """SIGKILL the broker of one module, or all. Each keeps what it last saved to disk
        (at most a second old)."""
        for key in self._selected(module_id, device_id):
            self._brokers[key].kill()

    def start_broker(
        self, module_id: str | None = None, device_id: str | None = None, timeout: float = 15.0
    ) -> None:
        """Start stopped brokers again on the same address and database, wait for the hub to
        reconnect, then send again the inputs a broker may have lost."""
        for key in self._selected(module_id, device_id):
            broker = self._brokers[key]
            if broker.running:
                continue
            saved_at = broker.last_saved()
            with self._lock:
                connections = self._connections[key]
            broker.start(timeout)
            with self._lock:
                self._counters.broker_starts += 1
            self._wait_connections(key, connections + 1, timeout)
            if again := self._inputs[key].redeliver(saved_at):
                log.info("sent %d input(s) to %s/%s again after the restart", again, *key)

    def restart_broker(
        self, module_id: str | None = None, device_id: str | None = None, timeout: float = 15.0
    ) -> None:
        """SIGKILL and start again: a crash and a recovery."""
        self.kill_broker(module_id, device_id)
        self.start_broker(module_id, device_id, timeout)

    # -- modules' identity -------------------------------------------------------------------

    @property
    def modules(self) -> list[ModuleKey]:
        return list(self._modules)

    def _key(self, device_id: str | None, module_id: str) -> ModuleKey:
        key = (device_id or self.device_id, module_id)
        if key not in self._twins:
            known = ", ".join(f"{d}/{m}" for d, m in self._modules)
            raise KeyError(f"unknown module {key[0]}/{key[1]} (known: {known})")
        return key

    def gateway_address(self, module_id: str, device_id: str | None = None) -> str:
        """The loopback address this module's broker listener (port 8883) is on."""
        return self._addresses[self._key(device_id, module_id)]

    def module_env(self, module_id: str, device_id: str | None = None) -> dict[str, str]:
        """The two variables with which ``IoTHubModuleClient.create_from_edge_environment()``
        connects to this emulator as this module."""
        key = self._key(device_id, module_id)
        if self.certificates is None:
            raise RuntimeError("the emulator is not started")
        connection_string = (
            f"HostName={IOTHUB_HOSTNAME};DeviceId={key[0]};ModuleId={key[1]};"
            f"SharedAccessKey={self._keys[key]};GatewayHostName={self._addresses[key]}"
        )
        return {
            "EdgeHubConnectionString": connection_string,
            "EdgeModuleCACertificateFile": str(self.certificates.ca),
        }

    def is_connected(self, module_id: str, device_id: str | None = None) -> bool:
        """Whether the module is connected to its broker right now."""
        key = self._key(device_id, module_id)
        with self._lock:
            return self._online[key]

    def disconnects(self, module_id: str, device_id: str | None = None) -> list[str]:
        """How the module left each time, as its broker saw it: "clean" (it sent DISCONNECT,
        as a module shutting down should), "closed" (the connection just ended), "timeout"
        (keep-alive expired) or "error". Not counted: drops caused by a broker restart."""
        key = self._key(device_id, module_id)
        with self._lock:
            return list(self._departures[key])

    def wait_for_connection(
        self,
        module_id: str,
        connected: bool = True,
        timeout: float = 30.0,
        device_id: str | None = None,
    ) -> None:
        """Wait until the module is connected (or, with ``connected=False``, disconnected)."""
        key = self._key(device_id, module_id)
        with self._lock:
            if not self._lock.wait_for(lambda: self._online[key] == connected, timeout):
                state = "connect" if connected else "disconnect"
                raise TimeoutError(f"{key[0]}/{key[1]} did not {state} in {timeout} s")

    # -- twins ---------------------------------------------------------------------------------

    def set_desired(
        self, module_id: str, patch: Mapping[str, Any], device_id: str | None = None
    ) -> int:
        """Merge ``patch`` into the desired properties, bump ``$version`` and push the patch
        (a module that is offline reads the whole twin when it reconnects). Returns the new
        ``$version``."""
        key = self._key(device_id, module_id)
        _check_json(check_patch(patch))  # before the twin changes
        with self._lock:
            version = self._twins[key].desired.apply(patch)
            body = {**patch, "$version": version}
            self._counters.desired_patches_sent += 1
        topic = f"$iothub/twin/PATCH/properties/desired/?$version={version}"
        # QoS 0: like IoT Hub, a patch is not queued for an offline module.
        self._publish(key, topic, json.dumps(body).encode(), qos=0)
        return version

    def twin(self, module_id: str, device_id: str | None = None) -> dict[str, Any]:
        """The twin as a twin GET returns it: ``{"desired": {...}, "reported": {...}}``."""
        key = self._key(device_id, module_id)
        with self._lock:
            return self._twins[key].document()

    def reported(self, module_id: str, device_id: str | None = None) -> dict[str, Any]:
        """The reported properties, with ``$version``."""
        key = self._key(device_id, module_id)
        with self._lock:
            return self._twins[key].reported.document()

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
            found = self._twins[key].reported.document()
            return bool(predicate(found))

        with self._lock:
            if not self._lock.wait_for(ready, timeout):
                raise TimeoutError(
                    f"reported properties of {key[0]}/{key[1]} did not match in {timeout} s; "
                    f"last: {json.dumps(found)[:2000]}"
                )
        return found

    # -- messages --------------------------------------------------------------------------------

    def send_input(
        self,
        module_id: str,
        input_name: str,
        body: bytes | str | Json,
        properties: Mapping[str, str] | None = None,
        *,
        message_id: str | None = None,
        correlation_id: str | None = None,
        content_type: str | None = None,
        content_encoding: str | None = None,
        sender: str | None = None,
        device_id: str | None = None,
    ) -> str:
        """Deliver a message to a module's input (QoS 1), as if a route had sent it there.
        A body that is not bytes or str is sent as JSON. ``sender``: the module it seems to
        come from (``$.cdid``/``$.cmid``, as edgeHub adds them). Returns the message id (a
        new UUID unless given)."""
        key = self._key(device_id, module_id)
        check_id("input", input_name)
        data, is_json = _body_bytes(body)
        message = Message(
            body=data,
            properties={str(k): str(v) for k, v in (properties or {}).items()},
            message_id=message_id or str(uuid.uuid4()),
            correlation_id=correlation_id,
            content_type=content_type or ("application/json" if is_json else None),
            content_encoding=content_encoding or ("utf-8" if is_json else None),
            connection_device_id=key[0] if sender else None,
            connection_module_id=check_id("sender", sender) if sender else None,
        )
        self._deliver(key, input_name, message)
        assert message.message_id is not None
        return message.message_id

    def _deliver(self, key: ModuleKey, input_name: str, message: Message) -> None:
        self._inputs[key].send(input_topic(key[0], key[1], input_name, message), message.body)

    def _on_publish(self, client: mqtt.Client, userdata: ModuleKey, mid: int) -> None:
        self._inputs[userdata].acknowledged(mid)

    @property
    def upstream(self) -> list[UpstreamMessage]:
        """Every message routed to ``$upstream`` so far, in arrival order."""
        with self._lock:
            return list(self._upstream)

    @property
    def rejected(self) -> list[RejectedMessage]:
        with self._lock:
            return list(self._rejected)

    def wait_for_upstream(
        self,
        count: int,
        timeout: float = 30.0,
        predicate: Callable[[UpstreamMessage], bool] | None = None,
    ) -> list[UpstreamMessage]:
        """Wait until at least ``count`` upstream messages (matching ``predicate``, if given)
        arrived, and return all those that match."""

        def matching() -> list[UpstreamMessage]:
            return [m for m in self._upstream if predicate is None or predicate(m)]

        with self._lock:
            if not self._lock.wait_for(lambda: len(matching()) >= count, timeout):
                raise TimeoutError(
                    f"{len(matching())} of {count} upstream messages after {timeout} s"
                )
            return matching()

    def counters(self) -> Counters:
        """A snapshot of the counters."""
        inputs = [module.counts() for module in self._inputs.values()]
        with self._lock:
            counters = Counters(**asdict(self._counters))
        for name in (f.name for f in fields(inputs[0])) if inputs else ():
            setattr(counters, f"inputs_{name}", sum(getattr(c, name) for c in inputs))
        return counters

    def wait_for_counters(
        self, predicate: Callable[[Counters], bool], timeout: float = 30.0
    ) -> Counters:
        """Wait until ``predicate(counters)`` holds and return those counters."""
        deadline = time.monotonic() + timeout
        while not predicate(counters := self.counters()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"counters did not match in {timeout} s: {counters}")
            with self._lock:
                # Broker acknowledgements do not notify (see inputs.py): poll briefly.
                self._lock.wait(0.05)
        return counters

    # -- direct methods ------------------------------------------------------------------------

    def invoke_method(
        self,
        module_id: str,
        method_name: str,
        payload: Json = None,
        timeout: float = 30.0,
        device_id: str | None = None,
    ) -> tuple[int, Json]:
        """Call a direct method and return ``(status, payload)``. As IoT Hub does, answer 404
        at once when the module is not connected (calls are not queued); raise TimeoutError
        when it does not answer in time."""
        key = self._key(device_id, module_id)
        check_id("method name", method_name)
        body = _check_json(payload)
        if not self.is_connected(module_id, device_id):
            return 404, {"message": f"module {key[0]}/{key[1]} is not connected"}
        rid = uuid.uuid4().hex
        pending = _Pending(key)
        with self._lock:
            self._methods[rid] = pending
            self._counters.methods_invoked += 1
        topic = f"$iothub/methods/POST/{method_name}/?$rid={rid}"
        try:
            self._publish(key, topic, body, qos=0)
            if not pending.event.wait(timeout) or self._closed:
                with self._lock:
                    self._counters.methods_timed_out += 1
                raise TimeoutError(
                    f"{key[0]}/{key[1]} did not answer {method_name!r} in {timeout} s"
                )
            return pending.status, pending.payload
        finally:
            with self._lock:
                self._methods.pop(rid, None)

    # -- the hub's MQTT side -------------------------------------------------------------------

    def _client(self, key: ModuleKey) -> mqtt.Client:
        client = self._clients.get(key)
        if client is None or self._closed:
            raise RuntimeError("the emulator is not started")
        return client

    def _publish(self, key: ModuleKey, topic: str, payload: bytes, qos: int) -> None:
        info = self._client(key).publish(topic, payload, qos=qos)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.warning("publish to %s: %s", topic, mqtt.error_string(info.rc))

    def _wait_connections(self, key: ModuleKey, count: int, timeout: float) -> None:
        with self._lock:
            if not self._lock.wait_for(lambda: self._connections[key] >= count, timeout):
                raise TimeoutError(f"the hub did not connect to {key[0]}/{key[1]}'s broker")

    def _on_connect(self, client: mqtt.Client, userdata: ModuleKey, flags: object, rc: int) -> None:
        if rc != 0:
            log.error("hub connection refused: %s", mqtt.connack_string(rc))
            return
        client.subscribe(hub_client.subscriptions(*userdata))

    def _on_disconnect(self, client: mqtt.Client, userdata: ModuleKey, rc: int) -> None:
        # The broker is gone (or we are closing): so is the module's connection to it.
        self._set_online(userdata, False)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: ModuleKey, mid: int, granted_qos: object
    ) -> None:
        with self._lock:
            self._connections[userdata] += 1
            self._counters.hub_connections += 1
            self._lock.notify_all()

    def _on_message(self, client: mqtt.Client, userdata: ModuleKey, msg: mqtt.MQTTMessage) -> None:
        # Nothing a module sends may stop the hub: every error is logged and counted.
        try:
            self._handle(userdata, msg.topic, bytes(msg.payload))
        except Exception:
            log.exception("could not handle a message on %s", msg.topic)
            with self._lock:
                self._counters.unknown_topics += 1

    def _handle(self, key: ModuleKey, topic: str, payload: bytes) -> None:
        if topic.startswith(hub_client.BROKER_LOG):
            self._broker_log(key, topic, payload.decode("utf-8", errors="replace"))
            return
        # Whatever the module sends shows it is connected (the hub may have missed the log
        # line while it was reconnecting to a restarted broker).
        self._set_online(key, True)
        if topic.startswith("$iothub/twin/GET/"):
            self._twin_get(key, topic)
        elif topic.startswith("$iothub/twin/PATCH/properties/reported/"):
            self._reported_patch(key, topic, payload)
        elif topic.startswith("$iothub/methods/res/"):
            self._method_response(key, topic, payload)
        else:
            properties = events_properties(key[0], key[1], topic)
            if properties is None:
                self._unknown(topic)
            else:
                self._route(key, decode_properties(properties, payload), len(properties))

    def _broker_log(self, key: ModuleKey, topic: str, line: str) -> None:
        client_id = f"{key[0]}/{key[1]}"  # the SDK's MQTT client id for a module
        if topic.endswith("/subscribe"):
            if topics := hub_client.subscribed_topics(line, client_id):
                # The SDK never subscribes again on reconnect, so a session the broker loses
                # is lost for good: edgeHub keeps subscriptions durably, so save them at once.
                self._brokers[key].save()
                inputs = f"devices/{key[0]}/modules/{key[1]}/inputs/#"
                if inputs in topics and (held := self._inputs[key].subscribed()):
                    log.info("%s/%s subscribed: sent the %d input(s) held", *key, held)
            return
        if topic.endswith(("/W", "/E")):
            log.warning("broker of %s/%s: %s", *key, line)
            with self._lock:
                self._counters.broker_warnings += 1
        change = hub_client.connection_change(line, client_id)
        if change == "connected":
            self._set_online(key, True)
        elif change is not None:
            with self._lock:
                self._departures[key].append(change)
            self._set_online(key, False)

    def _set_online(self, key: ModuleKey, online: bool) -> None:
        with self._lock:
            if online and not self._online[key]:
                self._counters.module_connects += 1
            self._online[key] = online
            self._lock.notify_all()

    def _unknown(self, topic: str) -> None:
        log.warning("ignoring a message on an unexpected topic: %s", topic)
        with self._lock:
            self._counters.unknown_topics += 1

    def _twin_response(
        self, key: ModuleKey, status: int, rid: str, extra: str, body: bytes
    ) -> None:
        # Like edgeHub, an answer reaches the module only if it subscribed to
        # $iothub/twin/res/# (see docs/edgehub-emulator.md on the SDK's first twin GET).
        topic = f"$iothub/twin/res/{status}/?$rid={rid}{extra}"
        self._publish(key, topic, body, qos=1)

    def _twin_get(self, key: ModuleKey, topic: str) -> None:
        rid = query(topic).get("rid", "")
        with self._lock:
            document = self._twins[key].document()
            self._counters.twin_gets += 1
        self._twin_response(key, 200, rid, "", json.dumps(document).encode())

    def _reported_patch(self, key: ModuleKey, topic: str, payload: bytes) -> None:
        rid = query(topic).get("rid", "")
        try:
            patch = check_patch(json.loads(payload or b"null"))
        except ValueError as error:  # JSONDecodeError is a ValueError too
            body = json.dumps({"message": f"invalid reported properties patch: {error}"})
            self._twin_response(key, 400, rid, "", body.encode())
            return
        with self._lock:
            version = self._twins[key].reported.apply(patch)
            self._counters.reported_patches += 1
            self._lock.notify_all()
        self._twin_response(key, 204, rid, f"&$version={version}", b"")

    def _method_response(self, key: ModuleKey, topic: str, payload: bytes) -> None:
        status_text = topic.split("/")[3]
        rid = query(topic).get("rid", "")
        with self._lock:
            pending = self._methods.get(rid)
            self._counters.methods_answered += 1
        if pending is None or pending.key != key:
            log.warning("a method response for an unknown or expired request: %s", topic)
            return
        try:
            pending.status = int(status_text)
        except ValueError:
            pending.status = 500
        try:
            pending.payload = json.loads(payload) if payload else None
        except ValueError:
            pending.payload = payload.decode("utf-8", errors="replace")
        pending.event.set()

    def _route(self, key: ModuleKey, message: Message, properties_size: int) -> None:
        with self._lock:
            self._counters.outputs_received += 1
        size = len(message.body) + properties_size
        if size > MAX_MESSAGE_BYTES:
            self._reject(key, f"message of {size} bytes exceeds {MAX_MESSAGE_BYTES}")
            return
        matched = [r for r in self.routes if r.matches(key[1], message.output_name)]
        if not matched:
            log.warning("no route for %s/%s output %r", *key, message.output_name)
            with self._lock:
                self._counters.unrouted += 1
            return
        for route in matched:
            if route.sink_module is None:
                self._to_upstream(key, message, route)
            else:
                assert route.sink_input is not None
                # System and custom properties travel on; the output name does not; edgeHub
                # says which connection the message came from.
                forwarded = Message(
                    **{
                        **asdict(message),
                        "output_name": None,
                        "connection_device_id": key[0],
                        "connection_module_id": key[1],
                    }
                )
                self._deliver((key[0], route.sink_module), route.sink_input, forwarded)
                with self._lock:
                    self._counters.routed_to_inputs += 1

    def _reject(self, key: ModuleKey, reason: str) -> None:
        log.error("rejected a message from %s/%s: %s", *key, reason)
        with self._lock:
            self._counters.rejected += 1
            self._rejected.append(RejectedMessage(key[0], key[1], reason))
            self._lock.notify_all()

    def _to_upstream(self, key: ModuleKey, message: Message, route: Route) -> None:
        upstream = UpstreamMessage(
            device_id=key[0],
            module_id=key[1],
            output_name=message.output_name,
            body=message.body,
            properties=dict(message.properties),
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            route=route.name,
            received_at=time.time(),
        )
        line = json.dumps(upstream.record()) + "\n"
        with self._lock:  # one writer at a time: each module's broker has its own hub thread
            if self.upstream_file is not None:
                with self.upstream_file.open("a", encoding="utf-8") as sink:
                    sink.write(line)
            self._upstream.append(upstream)
            self._counters.upstream += 1
            self._lock.notify_all()
