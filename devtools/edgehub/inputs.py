"""Input messages to one module, stored and forwarded the way edgeHub's routing does it.

The hub keeps every input until the module itself acknowledges it (acks.py reads the
module's PUBACK at the relay), and follows edgeHub's rules:

- One input in flight: the next goes only once the module acknowledged the last
  (edge-hub/core/src/Microsoft.Azure.Devices.Edge.Hub.Core/device/DeviceMessageHandler.cs,
  SendMessageAsync: one send at a time, under a lock).
- The acknowledgement is waited for ``ack_timeout`` seconds, 30 by default
  (Edge.Hub.Service/DependencyManager.cs, ``MessageAckTimeoutSecs``); an acknowledgement of an
  earlier copy does not count (DeviceMessageHandler.cs: a new lock token per send, an unknown
  one is ignored).
- No acknowledgement in time, the module disconnected meanwhile, or the module not connected
  and subscribed to its inputs: the attempt fails and the input (with those after it, in
  order) is sent again after a backoff (Edge.Hub.Core/routing/ModuleEndpoint.cs: TimeoutException
  and "not connected" are retryable; Routing.Core/endpoints/statemachine/EndpointExecutorFsm.cs
  waits ``RetryStrategy`` before it sends again). The backoff is edgeHub's store-and-forward
  ``ExponentialBackoff(int.MaxValue, 1 s, 60 s, 1 s)`` (Edge.Hub.Service/modules/
  RoutingModule.cs; the formula in edge-util/.../transientFaultHandling/ExponentialBackoff.cs),
  counted from the last success.
- An input older than ``time_to_live`` (``storeAndForwardConfiguration.timeToLiveSecs``) is
  never sent (Edge.Hub.Core/storage/MessageStore.cs: MessageIterator skips expired messages,
  CleanupProcessor deletes them). edgeHub checks as it reads a batch of up to 10 from its store,
  so an input read before it expired may still go out late; the emulator checks before every
  attempt (stricter).

The old copies of an input sent again stay with the broker until the module acknowledges them
or its session ends, as they stay unacknowledged with edgeHub: a module may get an input twice.
"""

from __future__ import annotations

import collections
import itertools
import logging
import random
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt

log = logging.getLogger("devtools.edgehub")

# edgeHub's figures (see the module docstring for where each comes from).
DEFAULT_ACK_TIMEOUT = 30.0
# The deployment templates' timeToLiveSecs (edgeHub without one keeps messages for ever:
# Edge.Hub.Core/config/StoreAndForwardConfiguration.cs, a negative value is TimeSpan.MaxValue).
DEFAULT_TIME_TO_LIVE = 7200.0
MIN_BACKOFF, MAX_BACKOFF, DELTA_BACKOFF = 1.0, 60.0, 1.0


def backoff(failures: int, ceiling: float = MAX_BACKOFF) -> float:
    """Seconds to wait after ``failures`` earlier failed attempts since the last success
    (edge-util/src/Microsoft.Azure.Devices.Edge.Util/transientFaultHandling/
    ExponentialBackoff.cs): 1 s, then about 2, 4, 8, 16, 32 s, then 60 s."""
    jitter = 0.8 + random.random() * 0.4
    growth = (2.0 ** min(failures, 30) - 1.0) * jitter * DELTA_BACKOFF
    return min(MIN_BACKOFF + growth, ceiling)


@dataclass(frozen=True)
class DeliveryRules:
    """How long an input waits for its acknowledgement and for its module, how many may be
    unacknowledged at once (edgeHub: one; more only to reproduce an emulator that sent many),
    and the longest backoff (edgeHub: 60 s; a test may shorten it to keep its timing short)."""

    ack_timeout: float = DEFAULT_ACK_TIMEOUT
    time_to_live: float = DEFAULT_TIME_TO_LIVE
    in_flight: int = 1
    max_backoff: float = MAX_BACKOFF


@dataclass
class _Input:
    topic: str
    body: bytes
    stored_at: float  # monotonic
    sent_at: float | None = None  # the current attempt; None: waiting to be sent
    attempts: int = 0


@dataclass(frozen=True)
class InputCounts:
    published: int  # attempts handed to the broker
    acknowledged: int  # ... acknowledged by the module
    redelivered: int  # attempts that sent an input again
    held: int  # inputs that found the module unable to take them (offline, not subscribed)
    expired: int  # dropped, older than the time to live
    timed_out: int  # attempts not acknowledged within the ack timeout


class ModuleInputs:
    """The store of one module's inputs and the thread that times its deliveries."""

    def __init__(self, client: mqtt.Client, name: str, rules: DeliveryRules) -> None:
        self._client = client
        self._name = name
        self._rules = rules
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._queue: collections.deque[_Input] = collections.deque()
        self._online = False
        self._subscribed = False
        self._failures = 0  # failed attempts since the last acknowledgement
        self._retry_at = 0.0  # monotonic: no attempt before
        self._closed = False
        self._published = self._acknowledged = self._redelivered = 0
        self._held = self._expired = self._timed_out = 0
        self._timer = threading.Thread(target=self._run, name=f"inputs {name}", daemon=True)
        self._timer.start()

    # -- events --------------------------------------------------------------------------------

    def send(self, topic: str, body: bytes) -> None:
        with self._lock:
            self._queue.append(_Input(topic, body, time.monotonic()))
            if not self._ready():
                self._held += 1
            self._pump()

    def acknowledged(self, topic: str, seen_at: float) -> None:
        """The module acknowledged the copy on ``topic`` first seen going to it at ``seen_at``
        (acks.AckWatch, in the relay's thread)."""
        with self._lock:
            for entry in self._queue:
                if entry.sent_at is None:
                    break  # the rest was not sent either
                if entry.topic == topic and seen_at >= entry.sent_at:
                    self._queue.remove(entry)
                    self._acknowledged += 1
                    self._failures = 0  # EndpointExecutorFsm: a success resets the retries
                    self._retry_at = 0.0
                    self._pump()
                    return

    def subscribed(self) -> int:
        """The module subscribed to its inputs (the broker keeps that with its session):
        return how many inputs wait for it."""
        with self._lock:
            self._subscribed = True
            self._pump()
            return len(self._queue)

    def connection(self, online: bool) -> None:
        """The module connected to or left its broker."""
        with self._lock:
            if online == self._online:
                return
            self._online = online
            if not online and self._in_flight():
                # DeviceMessageHandler.cs: closing the handler ends the wait at once, a failure.
                self._fail(time.monotonic())
            self._pump()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._changed.notify_all()

    def counts(self) -> InputCounts:
        with self._lock:
            return InputCounts(
                self._published,
                self._acknowledged,
                self._redelivered,
                self._held,
                self._expired,
                self._timed_out,
            )

    # -- delivery ----------------------------------------------------------------------------

    def _ready(self) -> bool:
        return self._online and self._subscribed

    def _in_flight(self) -> list[_Input]:
        """The inputs sent and not acknowledged: always the head of the queue (inputs go out
        in order, and an attempt that fails puts them all back)."""
        return list(itertools.takewhile(lambda entry: entry.sent_at is not None, self._queue))

    def _fail(self, now: float) -> None:
        """The attempt failed: every input in flight waits to be sent again, in order, after
        the backoff."""
        for entry in self._queue:
            entry.sent_at = None
        self._retry_at = now + backoff(self._failures, self._rules.max_backoff)
        self._failures += 1

    def _pump(self) -> None:
        """Send what may be sent now; called with the lock held on every change."""
        self._changed.notify_all()  # the timer's next deadline may have changed
        now = time.monotonic()
        if self._closed or now < self._retry_at:
            return
        oldest, expired = now - self._rules.time_to_live, 0
        # Stored in order: the expired ones are at the head.
        while self._queue and self._queue[0].sent_at is None and self._queue[0].stored_at < oldest:
            self._queue.popleft()
            expired += 1
        if expired:
            self._expired += expired
            log.warning(
                "%s: %d input(s) expired, older than %.0f s",
                self._name,
                expired,
                self._rules.time_to_live,
            )
        if not self._queue:
            return
        if not self._ready():
            if not self._in_flight():
                self._fail(now)  # ModuleEndpoint.cs: "not connected", retried after the backoff
            return
        in_flight = len(self._in_flight())
        for entry in self._queue:
            if in_flight >= self._rules.in_flight:
                break
            if entry.sent_at is not None:
                continue
            entry.sent_at = now
            entry.attempts += 1
            self._published += 1
            if entry.attempts > 1:
                self._redelivered += 1
            in_flight += 1
            info = self._client.publish(entry.topic, entry.body, qos=1)
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                # NO_CONN is fine: paho keeps QoS 1 messages and sends them when it reconnects.
                log.error("publishing an input failed: %s", mqtt.error_string(info.rc))

    def _run(self) -> None:
        """Fail attempts whose acknowledgement is overdue, and retry after the backoff."""
        with self._lock:
            while not self._closed:
                now = time.monotonic()
                sent = [entry.sent_at for entry in self._in_flight() if entry.sent_at is not None]
                if sent and now >= min(sent) + self._rules.ack_timeout:
                    self._timed_out += 1
                    log.warning(
                        "%s: no acknowledgement in %.0f s: sending again after a backoff",
                        self._name,
                        self._rules.ack_timeout,
                    )
                    self._fail(now)
                    self._pump()
                    continue
                if self._queue and not sent and now >= self._retry_at:
                    self._pump()
                    if not self._in_flight() and time.monotonic() >= self._retry_at:
                        # Nothing could be sent and no retry is due: wait for a change.
                        self._changed.wait()
                        continue
                deadlines = [self._retry_at] if self._queue and not sent else []
                if sent:
                    deadlines.append(min(sent) + self._rules.ack_timeout)
                timeout = max(0.0, min(deadlines) - now) if deadlines else None
                self._changed.wait(timeout)
