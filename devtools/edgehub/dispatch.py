"""The hub's MQTT dispatch: what it does with each message a module's broker brings it.

Twin GETs and reported patches are answered, method answers handed to the waiting caller,
outputs routed to other modules' inputs or to the upstream sink, and the broker's own log lines
read for connects, disconnects and subscriptions. Runs in paho's thread of each broker.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import paho.mqtt.client as mqtt

from devtools.edgehub import hub_client, twin_store
from devtools.edgehub.records import RejectedMessage, UpstreamMessage
from devtools.edgehub.routes import Route
from devtools.edgehub.sizes import MAX_MESSAGE_BYTES, MAX_PACKET_BYTES, packet_size, routed_size
from devtools.edgehub.state import HubState, ModuleKey
from devtools.edgehub.topics import (
    Message,
    decode_properties,
    events_properties,
    input_topic,
    query,
)
from devtools.edgehub.twin import check_patch, parse_json

log = logging.getLogger("devtools.edgehub")


METHODS_TOPIC = "$iothub/methods/POST/#"


class UndeliverableError(ValueError):
    """An input the emulator cannot deliver (edgeHub could): its packet would pass the broker's
    packet limit, which applies to the hub's own client too."""


class Dispatcher:
    """Handles what modules send, by topic; nothing a module sends may stop it."""

    def __init__(self, state: HubState, routes: list[Route], upstream_file: Path | None) -> None:
        self.state = state
        self.routes = routes
        self.upstream_file = upstream_file

    # -- paho's callbacks ------------------------------------------------------------------

    def on_message(self, client: mqtt.Client, userdata: ModuleKey, msg: mqtt.MQTTMessage) -> None:
        # Every error is logged and counted: the hub keeps serving.
        try:
            self._handle(userdata, msg.topic, bytes(msg.payload))
        except Exception:
            log.exception("could not handle a message on %s", msg.topic)
            with self.state.lock:
                self.state.counters.unknown_topics += 1

    # -- towards modules ---------------------------------------------------------------------

    def deliver(self, key: ModuleKey, input_name: str, message: Message) -> None:
        """Store ``message`` for a module's input, to be delivered by edgeHub's rules
        (inputs.py), or raise UndeliverableError."""
        topic = input_topic(key[0], key[1], input_name, message)
        size = packet_size(topic, message.body, qos=1)
        if size > MAX_PACKET_BYTES:
            # edgeHub sends larger packets to modules; mosquitto would disconnect the hub.
            raise UndeliverableError(
                f"an input packet of {size} bytes: the emulator's broker takes at most "
                f"{MAX_PACKET_BYTES} from the hub too (edgeHub would deliver it)"
            )
        self.state.inputs(key).send(topic, message.body)

    # -- by topic ----------------------------------------------------------------------------

    def _handle(self, key: ModuleKey, topic: str, payload: bytes) -> None:
        if topic.startswith(hub_client.BROKER_LOG):
            self._broker_log(key, topic, payload.decode("utf-8", errors="replace"))
            return
        # Whatever the module sends shows it is connected (the hub may have missed the log
        # line while it was reconnecting to a restarted broker).
        self.state.set_online(key, True)
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
                self._route(key, decode_properties(properties, payload))

    def _broker_log(self, key: ModuleKey, topic: str, line: str) -> None:
        module = self.state.modules[key]
        client_id = module.name  # the SDK's MQTT client id for a module
        if topic.endswith("/subscribe"):
            if topics := hub_client.subscribed_topics(line, client_id):
                # The SDK never subscribes again on reconnect, so a session the broker loses
                # is lost for good: edgeHub keeps subscriptions durably, so save them at once.
                if module.broker is not None:
                    module.broker.save()
                if METHODS_TOPIC in topics:
                    with self.state.lock:
                        module.methods_subscribed = True
                        self.state.lock.notify_all()
                inputs = f"devices/{key[0]}/modules/{key[1]}/inputs/#"
                if inputs in topics and (held := self.state.inputs(key).subscribed()):
                    log.info("%s subscribed: %d input(s) wait for it", module.name, held)
            return
        if topic.endswith(("/W", "/E")):
            log.warning("broker of %s: %s", module.name, line)
            with self.state.lock:
                self.state.counters.broker_warnings += 1
        change = hub_client.connection_change(line, client_id)
        if change == "connected":
            self.state.set_online(key, True)
        elif change is not None:
            with self.state.lock:
                module.departures.append(change)
            self.state.set_online(key, False)

    def _unknown(self, topic: str) -> None:
        log.warning("ignoring a message on an unexpected topic: %s", topic)
        with self.state.lock:
            self.state.counters.unknown_topics += 1

    # -- twins -------------------------------------------------------------------------------

    def _twin_response(
        self, key: ModuleKey, status: int, rid: str, extra: str, body: bytes
    ) -> None:
        # Like edgeHub, an answer reaches the module only if it subscribed to
        # $iothub/twin/res/# (see docs/edgehub-emulator.md on the SDK's first twin GET).
        topic = f"$iothub/twin/res/{status}/?$rid={rid}{extra}"
        self.state.publish(key, topic, body, qos=1)

    def _twin_get(self, key: ModuleKey, topic: str) -> None:
        rid = query(topic).get("rid", "")
        with self.state.lock:
            document = twin_store.get_twin(self.state.modules[key], self.state.offline)
            self.state.counters.twin_gets += 1
        self._twin_response(key, 200, rid, "", json.dumps(document).encode())

    def _reported_patch(self, key: ModuleKey, topic: str, payload: bytes) -> None:
        rid = query(topic).get("rid", "")
        module = self.state.modules[key]
        try:
            patch = check_patch(parse_json(payload))
            with self.state.lock:
                twin_store.take_reported(module, patch, self.state.offline)
                self.state.counters.reported_patches += 1
                self.state.lock.notify_all()
        except ValueError as error:  # JSONDecodeError and ReportedPatchError are ValueErrors
            log.warning("refused a reported patch of %s: %s", module.name, error)
            with self.state.lock:
                module.refused.append(str(error))
                self.state.counters.reported_refused += 1
                self.state.lock.notify_all()
            # DeviceMessageHandler.cs (HandleTwinOperationException): 400, an empty body.
            self._twin_response(key, 400, rid, "", b"")
            return
        # DeviceMessageHandler.cs (UpdateReportedPropertiesAsync): 204, an empty body, and no
        # $version: its answer carries none, so TwinAddressHelper.cs writes the topic without.
        self._twin_response(key, 204, rid, "", b"")

    # -- direct methods ----------------------------------------------------------------------

    def _method_response(self, key: ModuleKey, topic: str, payload: bytes) -> None:
        status_text = topic.split("/")[3]
        rid = query(topic).get("rid", "")
        with self.state.lock:
            pending = self.state.methods.get(rid)
            self.state.counters.methods_answered += 1
        if pending is None or pending.key != key:
            log.warning("a method response for an unknown or expired request: %s", topic)
            return
        pending.size = len(payload)
        try:
            pending.status = int(status_text)
        except ValueError:
            pending.status = 500
        try:
            pending.payload = json.loads(payload) if payload else None
        except ValueError:
            pending.payload = payload.decode("utf-8", errors="replace")
        pending.event.set()

    # -- routes ------------------------------------------------------------------------------

    def _route(self, key: ModuleKey, message: Message) -> None:
        with self.state.lock:
            self.state.counters.outputs_received += 1
        # edgeHub knows the sender from its connection; $.cdid/$.cmid the module set itself
        # stay application properties (decode_properties).
        message.connection_device_id, message.connection_module_id = key
        # Over the limit: the module has its acknowledgement already, and the message is
        # dropped without a word to it (RoutingEdgeHub.cs throws after the MQTT layer acked).
        size = routed_size(message)
        if size > MAX_MESSAGE_BYTES:
            self._reject(key, f"message of {size} bytes exceeds {MAX_MESSAGE_BYTES}")
            return
        matched = [r for r in self.routes if r.matches(key[1], message.output_name)]
        if not matched:
            log.warning("no route for %s/%s output %r", *key, message.output_name)
            with self.state.lock:
                self.state.counters.unrouted += 1
            return
        for route in matched:
            if route.sink_module is None:
                self._to_upstream(key, message, route)
            else:
                assert route.sink_input is not None
                # Application and system properties travel on; the output name does not.
                forwarded = Message(**{**asdict(message), "output_name": None})
                try:
                    self.deliver((key[0], route.sink_module), route.sink_input, forwarded)
                except UndeliverableError as error:
                    self._reject(key, str(error))
                    continue
                with self.state.lock:
                    self.state.counters.routed_to_inputs += 1

    def _reject(self, key: ModuleKey, reason: str) -> None:
        log.error("rejected a message from %s/%s: %s", *key, reason)
        with self.state.lock:
            self.state.counters.rejected += 1
            self.state.rejected.append(RejectedMessage(key[0], key[1], reason))
            self.state.lock.notify_all()

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
        with self.state.lock:  # one writer at a time: each module's broker has its own thread
            if self.upstream_file is not None:
                with self.upstream_file.open("a", encoding="utf-8") as sink:
                    sink.write(line)
            self.state.upstream.append(upstream)
            self.state.counters.upstream += 1
            self.state.lock.notify_all()
