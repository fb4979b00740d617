"""The emulator's API on direct methods: a call delivered and answered as edgeHub does it."""

from __future__ import annotations

import time
import uuid

from devtools.edgehub.hub_part import HubPart, check_json
from devtools.edgehub.records import Json
from devtools.edgehub.state import PendingMethod
from devtools.edgehub.topics import check_id

# IoT Hub's limit for a direct method's request and response payloads (docs: "Other limits").
MAX_METHOD_BYTES = 128 * 1024
# edgeHub waits this long after a module subscribes to methods before it sends the calls that
# waited for it (Edge.Hub.Core/InvokeMethodHandler.cs, ProcessInvokeMethodSubscriptionInternal).
METHOD_DELAY_AFTER_SUBSCRIBE = 3.0


class MethodCalls(HubPart):
    """Direct methods invoked on a module."""

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
        body = check_json(payload)
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
