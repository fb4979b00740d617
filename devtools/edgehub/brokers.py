"""The brokers' life cycle and fault control: each module's mosquitto, the relay in front of it,
and the hub's client of it, started and stopped together; SIGKILL and start again on demand.

The hub connects to each broker directly (not through the relay: the hub is not the SDK) and
counts its connections, so that a restart can wait until the hub is back. Inputs survive a
broker's SIGKILL in the hub's own store (inputs.py): each stays there until the module
acknowledges it, as the relay sees (acks.py).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import weakref
from pathlib import Path

import paho.mqtt.client as mqtt

from devtools.edgehub import hub_client
from devtools.edgehub.acks import AckWatch
from devtools.edgehub.addresses import MQTTS_PORT, AddressLease
from devtools.edgehub.broker import Broker, render_config
from devtools.edgehub.certs import Certificates, make_certificates
from devtools.edgehub.dispatch import Dispatcher
from devtools.edgehub.inputs import ModuleInputs
from devtools.edgehub.relay import Gate, Relay, server_context
from devtools.edgehub.state import IOTHUB_HOSTNAME, HubState, ModuleKey, ModuleState
from devtools.edgehub.tokens import Identity
from devtools.ports import free_port

log = logging.getLogger("devtools.edgehub")


class Brokers:
    """One broker, relay and hub client per module of ``state``, files under ``state_dir``."""

    def __init__(self, state: HubState, state_dir: Path, dispatcher: Dispatcher) -> None:
        self.state = state
        self.state_dir = state_dir
        self.dispatcher = dispatcher
        self.certificates: Certificates | None = None
        self._lease: AddressLease | None = None

    @property
    def started(self) -> bool:
        return any(module.broker is not None for module in self.state.modules.values())

    def open(self) -> None:
        """Lease the addresses, make the certificates, start every broker and its relay, and
        return once the hub is connected to each."""
        modules = list(self.state.modules.values())
        self._lease = AddressLease(len(modules))
        for module, leased in zip(modules, self._lease.addresses, strict=True):
            module.address = leased
        self.certificates = make_certificates(self.state_dir / "certs", self._lease.addresses)
        brokers_dir = self.state_dir / "brokers"
        # A fresh start has no old sessions; restarts within this run keep them (persistence).
        shutil.rmtree(brokers_dir, ignore_errors=True)
        for module in modules:
            folder = brokers_dir / f"{module.key[0]}.{module.key[1]}"
            address = module.address
            assert address is not None
            port, relay_port = free_port(address), free_port(address)
            while relay_port == port:
                relay_port = free_port(address)
            config = render_config(folder, self.certificates, address, port, relay_port)
            # The hub's TLS listener first (endpoints[0]), the relay's plain one second.
            broker = Broker(folder, config, [(address, port), (address, relay_port)])
            module.broker = broker
            listen, target = (address, MQTTS_PORT), (address, relay_port)
            module.relay = Relay(listen, target, self._gate(module), self._watch(module))
            # Whatever happens to this object, no broker outlives the process.
            weakref.finalize(self, broker.kill)
            broker.start()
            with self.state.lock:
                self.state.counters.broker_starts += 1
            self._connect_hub(module)

    def _gate(self, module: ModuleState) -> Gate:
        """Who may connect through this module's relay: the module, with a token signed by
        its key for IoT Hub's host name or this gateway's address."""
        assert self.certificates is not None and module.address is not None
        key = module.key
        hosts = (IOTHUB_HOSTNAME, module.address)
        certificates = self.certificates
        return Gate(
            identity=Identity(key[0], key[1], module.access_key, hosts),
            tls=server_context(str(certificates.server_cert), str(certificates.server_key)),
            report=lambda event, detail: self.state.gate_report(key, event, detail),
        )

    def _watch(self, module: ModuleState) -> AckWatch:
        """What the module's relay reports of its inputs' acknowledgements."""
        key = module.key

        def acknowledged(topic: str, seen_at: float) -> None:
            if (inputs := self.state.modules[key].inputs) is not None:
                inputs.acknowledged(topic, seen_at)

        return AckWatch(f"devices/{key[0]}/modules/{key[1]}/inputs/", acknowledged)

    def _connect_hub(self, module: ModuleState) -> None:
        assert self.certificates is not None and module.broker is not None
        client = hub_client.new_client(self.certificates.ca, userdata=module.key)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self.dispatcher.on_message
        client.on_disconnect = self._on_disconnect
        module.client = client
        module.inputs = ModuleInputs(client, module.name, self.state.rules)
        module.hub_connections = 0
        # Straight to the broker, not through the relay: the hub is not the SDK.
        client.connect(*module.broker.endpoints[0], keepalive=30)
        client.loop_start()
        self._wait_hub_connections(module, 1, timeout=15)

    def close(self) -> None:
        """Stop the hub's clients, the relays and the brokers, and release the addresses."""
        modules = list(self.state.modules.values())
        for module in modules:
            if (client := module.client) is not None:
                with contextlib.suppress(Exception):
                    client.disconnect()
                client.loop_stop()
        for module in modules:
            module.client = None
            if module.inputs is not None:
                module.inputs.close()
        for module in modules:
            if module.relay is not None:
                module.relay.close()
        for module in modules:
            if module.broker is not None:
                module.broker.stop()
        if self._lease is not None:
            self._lease.release()
            self._lease = None

    # -- fault control -----------------------------------------------------------------------

    def kill(self, keys: list[ModuleKey]) -> None:
        """SIGKILL these modules' brokers. Each keeps what it last saved (at most a second old)."""
        for key in keys:
            self._broker(key).kill()

    def start(self, keys: list[ModuleKey], timeout: float) -> None:
        """Start these modules' stopped brokers again on the same address and database and wait
        for the hub to reconnect. Inputs the broker lost are still in the hub's store."""
        for key in keys:
            module = self.state.modules[key]
            broker = self._broker(key)
            if broker.running:
                continue
            with self.state.lock:
                connections = module.hub_connections
            broker.start(timeout)
            with self.state.lock:
                self.state.counters.broker_starts += 1
            self._wait_hub_connections(module, connections + 1, timeout)

    def _broker(self, key: ModuleKey) -> Broker:
        broker = self.state.modules[key].broker
        if broker is None:
            raise RuntimeError("the emulator is not started")
        return broker

    # -- the hub's connections -----------------------------------------------------------------

    def _wait_hub_connections(self, module: ModuleState, count: int, timeout: float) -> None:
        with self.state.lock:
            if not self.state.lock.wait_for(lambda: module.hub_connections >= count, timeout):
                raise TimeoutError(f"the hub did not connect to {module.name}'s broker")

    def _on_connect(self, client: mqtt.Client, userdata: ModuleKey, flags: object, rc: int) -> None:
        if rc != 0:
            log.error("hub connection refused: %s", mqtt.connack_string(rc))
            return
        client.subscribe(hub_client.subscriptions(*userdata))

    def _on_subscribe(
        self, client: mqtt.Client, userdata: ModuleKey, mid: int, granted_qos: object
    ) -> None:
        with self.state.lock:
            self.state.modules[userdata].hub_connections += 1
            self.state.counters.hub_connections += 1
            self.state.lock.notify_all()

    def _on_disconnect(self, client: mqtt.Client, userdata: ModuleKey, rc: int) -> None:
        # The broker is gone (or we are closing): so is the module's connection to it.
        self.state.set_online(userdata, False)
