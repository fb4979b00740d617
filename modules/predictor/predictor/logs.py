"""Logs on stdout in the IoT Edge format: a syslog severity prefix, one line per event.

edgeAgent's log pulling (``iotedge logs``, the ``GetModuleLogs`` direct method) filters on the
``<N>`` prefix, so every line starts with it and no event spans two lines.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

# Python level -> syslog severity: <3> error, <4> warning, <6> info, <7> debug.
_SEVERITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}
_SHORT = {2: "CRT", 3: "ERR", 4: "WRN", 6: "INF", 7: "DBG"}
_NOISY = ("azure", "paho", "urllib3")


def severity(levelno: int) -> int:
    """The syslog severity of a Python log level (levels between two map to the lower one)."""
    for level in sorted(_SEVERITY, reverse=True):
        if levelno >= level:
            return _SEVERITY[level]
    return 7


class EdgeFormatter(logging.Formatter):
    """``<6> 2026-11-25 17:52:09.123 +00:00 [INF] - predictor.models.manager: text``, one line."""

    def format(self, record: logging.LogRecord) -> str:
        sev = severity(record.levelno)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(record.created))
        millis = int(record.msecs)
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}: {self.formatException(record.exc_info)}"
        # One event, one line: a traceback or a multi-line message is folded.
        message = message.replace("\r", "").replace("\n", " | ")
        return f"<{sev}> {stamp}.{millis:03d} +00:00 [{_SHORT[sev]}] - {record.name}: {message}"


def configure(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Send every log record to stdout in the IoT Edge format (replacing earlier handlers)."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(EdgeFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # The Azure SDKs log every HTTP request and MQTT step at INFO, over many lines: only their
    # warnings are events an operator needs (DEBUG shows everything).
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
