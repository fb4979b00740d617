"""QoS 1 input messages to one module, delivered the way edgeHub stores and forwards them.

- Held until the module first subscribes to its inputs (a bare broker would drop them), and
  dropped if they waited longer than the deployment's ``timeToLiveSecs``, as edgeHub's store
  expires them (edge-hub/core/src/Microsoft.Azure.Devices.Edge.Hub.Core/config/
  StoreAndForwardConfiguration.cs).
- Delivered one at a time: the broker sends a module its next input only once the module
  acknowledged the last (``max_inflight_messages 1`` in broker.py).
- Tracked until the broker acknowledges them, and counted.
- After a broker SIGKILL, sent again if the broker acknowledged them after its last save
  (mosquitto saves once a second): at least once, as QoS 1 promises.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt

log = logging.getLogger("devtools.edgehub")

# The save itself takes a moment: inputs acknowledged this long before it count as unsaved.
SAVE_MARGIN = 1.0
_KEEP_FOR = 15.0  # well past the next save


@dataclass
class _Sent:
    topic: str
    body: bytes
    acked_at: float | None = None


@dataclass(frozen=True)
class InputCounts:
    published: int
    acknowledged: int
    redelivered: int
    held: int
    expired: int


# edgeHub's default timeToLiveSecs (Edge.Hub.Service/appsettings_hub.json).
DEFAULT_TIME_TO_LIVE = 7200.0


class ModuleInputs:
    def __init__(self, client: mqtt.Client, time_to_live: float = DEFAULT_TIME_TO_LIVE) -> None:
        self._client = client
        self._time_to_live = time_to_live
        # Never taken by paho's callbacks: on_publish runs with paho's lock held, and
        # send() calls paho with this lock held (see acknowledged()).
        self._lock = threading.RLock()
        self._subscribed = False
        self._held: list[tuple[str, bytes, float]] = []
        self._sent: dict[int, _Sent] = {}
        self._recent: collections.deque[_Sent] = collections.deque()
        self._acks: collections.deque[tuple[int, float]] = collections.deque()
        self._published = self._acknowledged = self._redelivered = self._held_count = 0
        self._expired = 0

    def send(self, topic: str, body: bytes) -> None:
        self._drain_acks()
        with self._lock:
            if not self._subscribed:
                self._held.append((topic, body, time.monotonic()))
                self._held_count += 1
                return
            info = self._client.publish(topic, body, qos=1)
            sent = _Sent(topic, body)
            self._sent[info.mid] = sent
            self._recent.append(sent)
            self._published += 1
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            # NO_CONN is fine: paho keeps QoS 1 messages and sends them when it reconnects.
            log.error("publishing an input failed: %s", mqtt.error_string(info.rc))

    def acknowledged(self, mid: int) -> None:
        """paho's on_publish: the broker has it. Lock-free (a deque append)."""
        self._acks.append((mid, time.time()))

    def subscribed(self) -> int:
        """The module subscribed to its inputs: send what was held, in order."""
        with self._lock:  # nothing new may overtake what waited
            self._subscribed = True
            held, self._held = self._held, []
            oldest = time.monotonic() - self._time_to_live
            fresh = [(topic, body) for topic, body, since in held if since >= oldest]
            if expired := len(held) - len(fresh):
                log.warning("%d input(s) expired before the module subscribed", expired)
                self._expired += expired
            for topic, body in fresh:
                self.send(topic, body)
        return len(fresh)

    def redeliver(self, saved_at: float | None) -> int:
        """After a broker restart: send again what it acknowledged after ``saved_at``."""
        self._drain_acks()
        with self._lock:
            again = [
                sent
                for sent in self._recent
                if sent.acked_at is not None
                and (saved_at is None or sent.acked_at >= saved_at - SAVE_MARGIN)
            ]
            for sent in again:
                self.send(sent.topic, sent.body)
            self._redelivered += len(again)
        return len(again)

    def counts(self) -> InputCounts:
        self._drain_acks()
        with self._lock:
            return InputCounts(
                self._published,
                self._acknowledged,
                self._redelivered,
                self._held_count,
                self._expired,
            )

    def _drain_acks(self) -> None:
        with self._lock:
            while self._acks:
                mid, when = self._acks.popleft()
                sent = self._sent.pop(mid, None)
                if sent is not None:
                    sent.acked_at = when
                    self._acknowledged += 1
            horizon = time.time() - _KEEP_FOR
            while self._recent and (self._recent[0].acked_at or time.time()) < horizon:
                self._recent.popleft()
