"""Notice when paho-mqtt's network thread dies of an exception.

azure-iot-device 2.14 runs its MQTT link on paho-mqtt 1.6.1's network thread. paho's write path
catches ``ConnectionError`` only, so an ``ssl.SSLEOFError`` (an ``OSError``) from a write to a
link the peer has just ended kills the thread: no disconnect is reported, the client still says
it is connected, and nothing is read or sent any more (docs/reliability.md). Python hands such a
death to ``threading.excepthook``; this module listens there.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from types import TracebackType

_PAHO = "paho.mqtt.client"


def watch_network_threads(on_death: Callable[[BaseException], None]) -> Callable[[], None]:
    """Call ``on_death(exception)`` (on the dying thread) when a paho network thread dies; the
    previous hook still runs. Returns a function that removes the watch."""
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None and _raised_in_paho(args.exc_traceback):
            with contextlib.suppress(Exception):  # a watcher must never hide the error
                on_death(args.exc_value)
        previous(args)

    threading.excepthook = hook

    def unwatch() -> None:
        if threading.excepthook is hook:
            threading.excepthook = previous

    return unwatch


def _raised_in_paho(trace: TracebackType | None) -> bool:
    while trace is not None:
        if trace.tb_frame.f_globals.get("__name__") == _PAHO:
            return True
        trace = trace.tb_next
    return False
