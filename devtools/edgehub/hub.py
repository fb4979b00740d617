"""The edgeHub emulator's API: a mosquitto broker per module plus a hub that plays edgeHub's part.

Modules use the real azure-iot-device SDK against the brokers; the hub (paho-mqtt, in threads of
this process) keeps module twins, answers twin requests, pushes desired patches, routes module
outputs to module inputs or to an in-memory upstream sink, and invokes direct methods. The parts:
state.py (what it keeps per module), brokers.py (the brokers' life cycle and fault control),
dispatch.py (what it does with each message a module sends). The API's parts: hub_connections.py
(how modules connect), hub_twins.py, hub_messages.py, hub_methods.py (direct methods).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from devtools.edgehub.broker import Broker
from devtools.edgehub.brokers import Brokers
from devtools.edgehub.certs import Certificates
from devtools.edgehub.dispatch import Dispatcher
from devtools.edgehub.hub_connections import Connections
from devtools.edgehub.hub_messages import MessageControl
from devtools.edgehub.hub_methods import MethodCalls
from devtools.edgehub.hub_twins import TwinControl
from devtools.edgehub.inputs import (
    DEFAULT_ACK_TIMEOUT,
    DEFAULT_TIME_TO_LIVE,
    MAX_BACKOFF,
    DeliveryRules,
)
from devtools.edgehub.routes import Route, parse_routes
from devtools.edgehub.sizes import MAX_MESSAGE_BYTES
from devtools.edgehub.state import IOTHUB_HOSTNAME, HubState, ModuleKey
from devtools.edgehub.topics import check_id
from devtools.edgehub.workload import API_VERSION, WorkloadApi, WorkloadIdentity

__all__ = ["DEFAULT_DEVICE", "MAX_MESSAGE_BYTES", "EdgeHub", "ModuleKey"]

log = logging.getLogger("devtools.edgehub")

DEFAULT_DEVICE = "edge-device"


def _as_routes(routes: Mapping[str, Any] | Iterable[str | Route]) -> list[Route]:
    if isinstance(routes, Mapping):
        return parse_routes(routes)
    given = list(routes)
    parsed = [r for r in given if isinstance(r, Route)]
    texts = [r for r in given if not isinstance(r, Route)]
    if parsed and texts:
        raise ValueError("give routes either as Route objects or as route strings, not both")
    return parsed or parse_routes(texts)


class EdgeHub(Connections, TwinControl, MessageControl, MethodCalls):
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
