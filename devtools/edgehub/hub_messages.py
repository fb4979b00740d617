"""The emulator's API on messages: inputs sent to a module as a route would, and what reached
``$upstream``, was rejected or counted."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, fields

from devtools.edgehub.hub_part import HubPart, check_json
from devtools.edgehub.records import Counters, Json, RejectedMessage, UpstreamMessage
from devtools.edgehub.topics import Message, check_id


def _body_bytes(body: bytes | str | Json) -> tuple[bytes, bool]:
    """The wire body, and whether it was JSON-encoded here."""
    if isinstance(body, bytes):
        return body, False
    if isinstance(body, str):
        return body.encode("utf-8"), False
    return check_json(body), True


class MessageControl(HubPart):
    """Inputs in, upstream messages and counters out."""

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
