"""The edgeHub emulator's API: a mosquitto broker per module plus a hub that plays edgeHub's part.

Modules use the real azure-iot-device SDK against the brokers; the hub (paho-mqtt, in threads of
this process) keeps module twins, answers twin requests, pushes desired patches, routes module
outputs to module inputs or to an in-memory upstream sink, and invokes direct methods. The parts:
state.py (what it keeps per module), brokers.py (the brokers' life cycle and fault control),
dispatch.py (what it does with each message a module sends).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, fields
from pathlib import Path
from types import TracebackType
from typing import Any

from devtools.edgehub import twin_store
from devtools.edgehub.broker import Broker
from devtools.edgehub.brokers import Brokers
from devtools.edgehub.certs import Certificates
from devtools.edgehub.dispatch import Dispatcher
from devtools.edgehub.inputs import (
    DEFAULT_ACK_TIMEOUT,
    DEFAULT_TIME_TO_LIVE,
    MAX_BACKOFF,
    DeliveryRules,
)
from devtools.edgehub.records import Counters, Json, RejectedMessage, UpstreamMessage
from devtools.edgehub.routes import Route, parse_routes
from devtools.edgehub.sizes import MAX_MESSAGE_BYTES
from devtools.edgehub.state import IOTHUB_HOSTNAME, HubState, ModuleKey, PendingMethod
from devtools.edgehub.topics import Message, check_id
from devtools.edgehub.twin import check_patch
from devtools.edgehub.workload import API_VERSION, WorkloadApi, WorkloadIdentity

__all__ = ["DEFAULT_DEVICE", "MAX_MESSAGE_BYTES", "EdgeHub", "ModuleKey"]

log = logging.getLogger("devtools.edgehub")

DEFAULT_DEVICE = "edge-device"
# IoT Hub's limit for a direct method's request and response payloads (docs: "Other limits").
MAX_METHOD_BYTES = 128 * 1024
# edgeHub waits this long after a module subscribes to methods before it sends the calls that
# waited for it (Edge.Hub.Core/InvokeMethodHandler.cs, ProcessInvokeMethodSubscriptionInternal).
METHOD_DELAY_AFTER_SUBSCRIBE = 3.0


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
    Inputs are delivered by edgeHub's rules (inputs.py): ``time_to_live``: seconds an input may
    wait for its module (older ones are never delivered); ``ack_timeout``: seconds to wait for
    the module's acknowledgement of an input before it is sent again after a backoff (edgeHub:
    30); ``max_backoff``: the longest wait before an input that could not be delivered is tried
    again (edgeHub: 60; shorter keeps a test's timing short); ``inputs_in_flight``: inputs a
    module may have unacknowledged; edgeHub sends one at a time, more only reproduces for a
    test the bursts of an emulator that sent many.
    """

    def __init__(
        self,
        state_dir: Path,
        routes: Mapping[str, Any] | Iterable[str | Route] = (),
        modules: Iterable[str | ModuleKey] = (),
        device_id: str = DEFAULT_DEVICE,
        upstream_file: Path | None = None,
        time_to_live: float = DEFAULT_TIME_TO_LIVE,
        inputs_in_flight: int = 1,
        ack_timeout: float = DEFAULT_ACK_TIMEOUT,
        max_backoff: float = MAX_BACKOFF,
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
        if not keys:
            raise ValueError("the emulator needs at least one module (from modules or routes)")
        self.upstream_file = upstream_file
        if time_to_live <= 0:
            raise ValueError(f"time_to_live must be positive, not {time_to_live}")
        if not 1 <= inputs_in_flight <= 100:
            raise ValueError(f"inputs_in_flight must be 1 to 100, not {inputs_in_flight}")
        if ack_timeout <= 0:
            raise ValueError(f"ack_timeout must be positive, not {ack_timeout}")
        if not 1 <= max_backoff <= MAX_BACKOFF:
            raise ValueError(f"max_backoff must be 1 to {MAX_BACKOFF:.0f} s, not {max_backoff}")
        rules = DeliveryRules(ack_timeout, time_to_live, inputs_in_flight, max_backoff)
        self._state = HubState(list(dict.fromkeys(keys)), rules)
        self._lock = self._state.lock
        self._dispatch = Dispatcher(self._state, self.routes, upstream_file)
        self._brokers = Brokers(self._state, self.state_dir, self._dispatch)
        self._workload: WorkloadApi | None = None

    @property
    def certificates(self) -> Certificates | None:
        """The CA and server certificate the brokers use (None until started)."""
        return self._brokers.certificates

    # -- life cycle -------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        state_dir: Path,
        routes: Mapping[str, Any] | Iterable[str | Route] = (),
        modules: Iterable[str | ModuleKey] = (),
        device_id: str = DEFAULT_DEVICE,
        upstream_file: Path | None = None,
        time_to_live: float = DEFAULT_TIME_TO_LIVE,
        ack_timeout: float = DEFAULT_ACK_TIMEOUT,
    ) -> EdgeHub:
        """Start the brokers and the hub, and return once all are ready."""
        hub = cls(
            state_dir, routes, modules, device_id, upstream_file, time_to_live, 1, ack_timeout
        )
        hub.open()
        return hub

    def open(self) -> None:
        try:
            self._brokers.open()
            assert self.certificates is not None
            self._workload = WorkloadApi(
                [
                    WorkloadIdentity(m.key[0], m.key[1], m.generation_id, m.access_key)
                    for m in self._state.modules.values()
                ],
                trust_bundle=self.certificates.ca,
            )
            self._workload.open()
        except BaseException:
            self.close()
            raise
        log.info("edgeHub emulator ready: %s", self._names())

    def close(self) -> None:
        """Stop the hub and the brokers and release the addresses. Safe to call twice."""
        self._state.closed = True
        if self._workload is not None:
            self._workload.close()
        self._brokers.close()
        with self._lock:
            for pending in self._state.methods.values():
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
        if not self._brokers.started:
            raise RuntimeError("the emulator is not started")
        return self.modules if module_id is None else [self._key(device_id, module_id)]

    def broker(self, module_id: str, device_id: str | None = None) -> Broker:
        """The mosquitto that this module connects to."""
        broker = self._state.modules[self._selected(module_id, device_id)[0]].broker
        assert broker is not None
        return broker

    def kill_broker(self, module_id: str | None = None, device_id: str | None = None) -> None:
        """SIGKILL the broker of one module, or all. Each keeps what it last saved to disk
        (at most a second old)."""
        self._brokers.kill(self._selected(module_id, device_id))

    def start_broker(
        self, module_id: str | None = None, device_id: str | None = None, timeout: float = 15.0
    ) -> None:
        """Start stopped brokers again on the same address and database and wait for the hub to
        reconnect (the inputs a broker lost are still in the hub's store)."""
        self._brokers.start(self._selected(module_id, device_id), timeout)

    def restart_broker(
        self, module_id: str | None = None, device_id: str | None = None, timeout: float = 15.0
    ) -> None:
        """SIGKILL and start again: a crash and a recovery."""
        self.kill_broker(module_id, device_id)
        self.start_broker(module_id, device_id, timeout)

    # -- modules' identity -------------------------------------------------------------------

    @property
    def modules(self) -> list[ModuleKey]:
        return list(self._state.modules)

    def _names(self) -> str:
        return ", ".join(module.name for module in self._state.modules.values())

    def _key(self, device_id: str | None, module_id: str) -> ModuleKey:
        key = (device_id or self.device_id, module_id)
        if key not in self._state.modules:
            raise KeyError(f"unknown module {key[0]}/{key[1]} (known: {self._names()})")
        return key

    def gateway_address(self, module_id: str, device_id: str | None = None) -> str:
        """The loopback address this module's broker listener (port 8883) is on."""
        address = self._state.modules[self._key(device_id, module_id)].address
        if address is None:
            raise RuntimeError("the emulator is not started")
        return address

    @property
    def workload(self) -> WorkloadApi:
        """The workload API stand-in the modules sign their tokens with (and its faults)."""
        if self._workload is None:
            raise RuntimeError("the emulator is not started")
        return self._workload

    def module_env(
        self, module_id: str, device_id: str | None = None, *, debug: bool = False
    ) -> dict[str, str]:
        """The environment with which ``IoTHubModuleClient.create_from_edge_environment()``
        connects to this emulator as this module.

        By default, what edgeAgent gives a module on a device (``IOTEDGE_*``: the SDK reads the
        trust bundle and signs its tokens through the workload API, ``self.workload``). With
        ``debug``, the two variables of the SDK's local-debug path instead (a connection string
        holding the module's key, and the CA file), as deployment.debug.template.json's
        simulator gives them.
        """
        module = self._state.modules[self._key(device_id, module_id)]
        if self.certificates is None or module.address is None:
            raise RuntimeError("the emulator is not started")
        if debug:
            connection_string = (
                f"HostName={IOTHUB_HOSTNAME};DeviceId={module.key[0]};ModuleId={module.key[1]};"
                f"SharedAccessKey={module.access_key};GatewayHostName={module.address}"
            )
            return {
                "EdgeHubConnectionString": connection_string,
                "EdgeModuleCACertificateFile": str(self.certificates.ca),
            }
        # As edge-agent's Edgelet/commands/CreateOrUpdateCommand.cs sets them (Core/Constants.cs).
        return {
            "IOTEDGE_WORKLOADURI": self.workload.uri(*module.key),
            "IOTEDGE_DEVICEID": module.key[0],
            "IOTEDGE_MODULEID": module.key[1],
            "IOTEDGE_MODULEGENERATIONID": module.generation_id,
            "IOTEDGE_IOTHUBHOSTNAME": IOTHUB_HOSTNAME,
            "IOTEDGE_GATEWAYHOSTNAME": module.address,
            "IOTEDGE_APIVERSION": API_VERSION,
            "IOTEDGE_AUTHSCHEME": "sasToken",
        }

    def token_expiries(self, module_id: str, device_id: str | None = None) -> list[float]:
        """The expiry (epoch seconds) of the SAS token of each connection the module's relay
        accepted, oldest first."""
        key = self._key(device_id, module_id)
        with self._lock:
            return list(self._state.modules[key].token_expiries)

    def refusals(self, module_id: str, device_id: str | None = None) -> list[str]:
        """Why each CONNECT the module's relay refused was refused, oldest first."""
        key = self._key(device_id, module_id)
        with self._lock:
            return list(self._state.modules[key].refusals)

    def is_connected(self, module_id: str, device_id: str | None = None) -> bool:
        """Whether the module is connected to its broker right now."""
        key = self._key(device_id, module_id)
        with self._lock:
            return self._state.modules[key].online

    def disconnects(self, module_id: str, device_id: str | None = None) -> list[str]:
        """How the module left each time, as its broker saw it: "clean" (it sent DISCONNECT,
        as a module shutting down should), "closed" (the connection just ended), "timeout"
        (keep-alive expired) or "error". Not counted: drops caused by a broker restart."""
        key = self._key(device_id, module_id)
        with self._lock:
            return list(self._state.modules[key].departures)

    def wait_for_connection(
        self,
        module_id: str,
        connected: bool = True,
        timeout: float = 30.0,
        device_id: str | None = None,
    ) -> None:
        """Wait until the module is connected (or, with ``connected=False``, disconnected)."""
        key = self._key(device_id, module_id)
        module = self._state.modules[key]
        with self._lock:
            if not self._lock.wait_for(lambda: module.online == connected, timeout):
                state = "connect" if connected else "disconnect"
                raise TimeoutError(f"{key[0]}/{key[1]} did not {state} in {timeout} s")

    # -- twins ---------------------------------------------------------------------------------

    def set_desired(
        self, module_id: str, patch: Mapping[str, Any], device_id: str | None = None
    ) -> int:
        """Merge ``patch`` into the desired properties in IoT Hub, bump ``$version`` and, if
        edgeHub is online, push it to the module (a module that is offline reads the whole twin
        when it reconnects; while edgeHub is offline, it gets the change when edgeHub comes
        online, if edgeHub has its twin stored). Returns the new ``$version``."""
        key = self._key(device_id, module_id)
        _check_json(check_patch(patch))  # before the twin changes
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

    # -- messages --------------------------------------------------------------------------------

    def send_input(
        self,
        module_id: str,
        input_name: str,
        body: bytes | str | Json,
        properties: Mapping[str, str | None] | None = None,
        *,
        message_id: str | None = None,
        correlation_id: str | None = None,
        content_type: str | None = None,
        content_encoding: str | None = None,
        sender: str | None = None,
        device_id: str | None = None,
    ) -> str:
        """Deliver a message to a module's input (QoS 1, by edgeHub's rules: one at a time,
        sent again when unacknowledged, expired after ``time_to_live``), as if a route had sent
        it there.
        A body that is not bytes or str is sent as JSON. ``sender``: the module it seems to
        come from (``$.cdid``/``$.cmid``, as edgeHub adds them). A property without a value
        (None or "") reaches the module as edgeHub sends one: a key alone, which the SDK reads
        as None. Returns the message id (a new UUID unless given); UndeliverableError (a
        ValueError) for an input whose packet the emulator's broker would refuse."""
        key = self._key(device_id, module_id)
        check_id("input", input_name)
        data, is_json = _body_bytes(body)
        message = Message(
            body=data,
            properties={
                str(k): None if v is None else str(v) for k, v in (properties or {}).items()
            },
            message_id=message_id or str(uuid.uuid4()),
            correlation_id=correlation_id,
            content_type=content_type or ("application/json" if is_json else None),
            content_encoding=content_encoding or ("utf-8" if is_json else None),
            connection_device_id=key[0] if sender else None,
            connection_module_id=check_id("sender", sender) if sender else None,
        )
        self._dispatch.deliver(key, input_name, message)
        assert message.message_id is not None
        return message.message_id

    @property
    def upstream(self) -> list[UpstreamMessage]:
        """Every message routed to ``$upstream`` so far, in arrival order."""
        with self._lock:
            return list(self._state.upstream)

    @property
    def rejected(self) -> list[RejectedMessage]:
        with self._lock:
            return list(self._state.rejected)

    def wait_for_upstream(
        self,
        count: int,
        timeout: float = 30.0,
        predicate: Callable[[UpstreamMessage], bool] | None = None,
    ) -> list[UpstreamMessage]:
        """Wait until at least ``count`` upstream messages (matching ``predicate``, if given)
        arrived, and return all those that match."""

        def matching() -> list[UpstreamMessage]:
            return [m for m in self._state.upstream if predicate is None or predicate(m)]

        with self._lock:
            if not self._lock.wait_for(lambda: len(matching()) >= count, timeout):
                raise TimeoutError(
                    f"{len(matching())} of {count} upstream messages after {timeout} s"
                )
            return matching()

    def counters(self) -> Counters:
        """A snapshot of the counters."""
        inputs = [m.inputs.counts() for m in self._state.modules.values() if m.inputs is not None]
        with self._lock:
            counters = Counters(**asdict(self._state.counters))
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
                # Input deliveries do not notify this lock (see inputs.py): poll briefly.
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
        connect_timeout: float | None = None,
    ) -> tuple[int, Json]:
        """Call a direct method and return ``(status, payload)``, as edgeHub does
        (edge-hub/core/src/Microsoft.Azure.Devices.Edge.Hub.Core/InvokeMethodHandler.cs and
        device/DeviceMessageHandler.cs):

        - a module that is not connected and subscribed to methods is waited for up to
          ``connect_timeout`` (default: ``timeout``): 404 if it does not come; if it does, the
          call goes 3 s after its subscription, as edgeHub delays it;
        - no answer within ``timeout`` after the call went out: 504;
        - an answer over IoT Hub's 128 KB for a method's response: 413 (IoT Hub's own answer
          to that is not documented; the caller never gets such an answer).
        """
        key = self._key(device_id, module_id)
        check_id("method name", method_name)
        body = _check_json(payload)
        if len(body) > MAX_METHOD_BYTES:
            raise ValueError(f"a method's payload may be at most {MAX_METHOD_BYTES} bytes")
        module = self._state.modules[key]

        def ready() -> bool:
            return self._state.closed or (module.online and module.methods_subscribed)

        with self._lock:
            waited = not ready()
            wait = timeout if connect_timeout is None else connect_timeout
            if not self._lock.wait_for(ready, wait) or self._state.closed:
                return 404, {"message": f"module {key[0]}/{key[1]} is not connected"}
        if waited:
            time.sleep(METHOD_DELAY_AFTER_SUBSCRIBE)
        rid = uuid.uuid4().hex
        pending = PendingMethod(key)
        with self._lock:
            self._state.methods[rid] = pending
            self._state.counters.methods_invoked += 1
        topic = f"$iothub/methods/POST/{method_name}/?$rid={rid}"
        try:
            self._state.publish(key, topic, body, qos=0)
            if not pending.event.wait(timeout) or self._state.closed:
                with self._lock:
                    self._state.counters.methods_timed_out += 1
                message = f"{key[0]}/{key[1]} did not answer {method_name!r} in {timeout} s"
                return 504, {"message": message}
            if pending.size > MAX_METHOD_BYTES:
                message = (
                    f"the answer of {pending.size} bytes exceeds the {MAX_METHOD_BYTES} "
                    "bytes IoT Hub allows a method's response"
                )
                return 413, {"message": message}
            return pending.status, pending.payload
        finally:
            with self._lock:
                self._state.methods.pop(rid, None)
