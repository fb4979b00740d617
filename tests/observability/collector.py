"""The IoT Edge metrics collector's rules for one line of Prometheus text, in Python.

The collector module (Azure/iotedge, edge-modules/metrics-collector, PrometheusMetricsParser)
keeps a line only if it matches its regex: a metric name, optional labels, a value matching
``[\\d.eE+-]+|NaN`` and an optional integer timestamp. Anything else - ``+Inf``/``-Inf`` values,
exemplars (``# {...}`` after the value), a float timestamp - is dropped with a warning. This is
a port of those rules, so that the tests can check every line the predictor exports.
"""

from __future__ import annotations

import re

_NAME = r"[a-zA-Z_:][a-zA-Z_0-9:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z_0-9]*[ \t]*=[ \t]*"(?:[^\\"]|\\"|\\\\|\\n)*"[ \t]*'
_LABELS = rf"\{{[ \t]*(?:{_LABEL}(?:,[ \t]*{_LABEL})*(?:,[ \t]*)?)?\}}[ \t]*"
_VALUE = r"(?P<value>[\d.eE+-]+|NaN)"
LINE = re.compile(rf"^(?P<name>{_NAME})[ \t]*(?:{_LABELS})?{_VALUE}(?:[ \t]+[\d]+)?$")


def dropped_lines(text: str) -> list[str]:
    """The sample lines of ``text`` that the collector would drop (comments are skipped)."""
    dropped = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = LINE.match(line)
        if match is None or not _is_double(match["value"]):
            dropped.append(line)
    return dropped


def _is_double(value: str) -> bool:
    # The collector parses the value as a .NET double; "1e" or "--" match the regex but not that.
    try:
        float(value)
    except ValueError:
        return False
    return True
