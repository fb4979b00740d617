"""IoT Edge routes: parse ``FROM <source> INTO <sink>`` and match module outputs against them.

Supported sources: ``/messages/*``, ``/messages/modules/*``, ``/messages/modules/A/*``,
``/messages/modules/A/outputs/*`` and ``/messages/modules/A/outputs/x``. Supported sinks:
``$upstream`` and ``BrokeredEndpoint("/modules/B/inputs/y")``. ``WHERE`` conditions are not
supported: such a route is refused rather than silently routing too much.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.edgehub.topics import check_id

UPSTREAM = "$upstream"

_ROUTE = re.compile(r"^\s*FROM\s+(?P<source>\S+)\s+(?P<rest>.*?)\s*$", re.IGNORECASE | re.DOTALL)
_INTO = re.compile(r"^INTO\s+(?P<sink>.+)$", re.IGNORECASE | re.DOTALL)
_BROKERED = re.compile(
    r'^BrokeredEndpoint\(\s*"/modules/(?P<module>[^/"]+)/inputs/(?P<input>[^/"]+)"\s*\)$',
    re.IGNORECASE,
)
_SOURCE = re.compile(
    r"^/messages/(?:\*|modules/(?:\*|(?P<module>[^/]+)/(?:\*|outputs/(?P<output>[^/]+))))$"
)


class RouteError(ValueError):
    """A route the emulator cannot parse or does not support."""


@dataclass(frozen=True)
class Route:
    """One route. ``None`` in ``module``/``output`` means any; ``output == "*"`` means any
    named output (a message sent without an output name does not match ``outputs/*``)."""

    name: str
    text: str
    module: str | None
    output: str | None
    sink_module: str | None  # None: $upstream
    sink_input: str | None

    @property
    def to_upstream(self) -> bool:
        return self.sink_module is None

    def matches(self, module_id: str, output_name: str | None) -> bool:
        if self.module is not None and self.module != module_id:
            return False
        if self.output is None:
            return True
        if output_name is None:
            return False
        return self.output in ("*", output_name)


def _checked(route: str, kind: str, value: str) -> str:
    try:
        return check_id(kind, value)
    except ValueError as error:
        raise RouteError(f"route {route!r}: {error}") from error


def parse_route(name: str, text: str) -> Route:
    """Parse one route string, or raise RouteError saying what is wrong."""
    head = _ROUTE.match(text)
    if head is None:
        raise RouteError(f"route {name!r}: expected 'FROM <source> INTO <sink>', got {text!r}")
    source, rest = head["source"], head["rest"]
    if rest.upper().startswith("WHERE"):
        raise RouteError(f"route {name!r}: WHERE conditions are not supported by the emulator")
    into = _INTO.match(rest)
    if into is None:
        raise RouteError(f"route {name!r}: expected 'INTO <sink>' after the source, got {rest!r}")
    found = _SOURCE.match(source)
    if found is None:
        raise RouteError(
            f"route {name!r}: unsupported source {source!r} (use /messages/*, "
            "/messages/modules/A/*, /messages/modules/A/outputs/* or .../outputs/x)"
        )
    module, output = found["module"], found["output"]
    if module is not None:
        _checked(name, "module in route", module)
    if output is not None and output != "*":
        _checked(name, "output in route", output)
    sink = into["sink"].strip()
    if sink == UPSTREAM:
        return Route(name, text, module, output, None, None)
    brokered = _BROKERED.match(sink)
    if brokered is None:
        raise RouteError(
            f"route {name!r}: unsupported sink {sink!r} "
            '(use $upstream or BrokeredEndpoint("/modules/B/inputs/y"))'
        )
    sink_module = _checked(name, "module in route sink", brokered["module"])
    sink_input = _checked(name, "input in route sink", brokered["input"])
    return Route(name, text, module, output, sink_module, sink_input)


def parse_routes(routes: Mapping[str, Any] | Iterable[str]) -> list[Route]:
    """Parse routes given as ``{name: "FROM ..."}``, ``{name: {"route": "FROM ..."}}`` (schema
    1.1+) or a plain list of strings (named ``route1``, ``route2``, ...)."""
    if isinstance(routes, Mapping):
        named = list(routes.items())
    elif isinstance(routes, str):
        raise RouteError("routes must be a list or a mapping of routes, not one string")
    else:
        named = [(f"route{index}", text) for index, text in enumerate(routes, start=1)]
    parsed = []
    for name, value in named:
        if isinstance(value, Mapping):
            value = value.get("route")
        if not isinstance(value, str):
            raise RouteError(f"route {name!r}: expected a route string or {{'route': ...}}")
        parsed.append(parse_route(str(name), value))
    return parsed


@dataclass(frozen=True)
class Manifest:
    """What the emulator takes from a deployment manifest."""

    routes: list[Route]
    modules: list[str]
    # $edgeHub's storeAndForwardConfiguration.timeToLiveSecs; None when the manifest has none.
    time_to_live: float | None = None


def load_manifest(path: Path) -> Manifest:
    """Read routes (``$edgeHub``) and custom module names (``$edgeAgent``) from a deployment
    manifest or template; raise RouteError/ValueError with the reason when it does not fit."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read deployment manifest {path}: {error}") from error
    content = document.get("modulesContent", document) if isinstance(document, dict) else None
    if not isinstance(content, dict):
        raise ValueError(f"{path}: not a deployment manifest (no modulesContent)")
    try:
        routes = content["$edgeHub"]["properties.desired"]["routes"]
    except (KeyError, TypeError) as error:
        raise ValueError(f"{path}: no $edgeHub.properties.desired.routes") from error
    agent = content.get("$edgeAgent", {})
    modules_section = agent.get("properties.desired", {}).get("modules", {})
    if not isinstance(modules_section, dict):
        raise ValueError(f"{path}: $edgeAgent modules must be an object")
    modules = [check_id("module", name) for name in modules_section]
    forward = content["$edgeHub"]["properties.desired"].get("storeAndForwardConfiguration", {})
    ttl = forward.get("timeToLiveSecs") if isinstance(forward, dict) else None
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0):
        raise ValueError(f"{path}: timeToLiveSecs must be a positive integer, not {ttl!r}")
    return Manifest(routes=parse_routes(routes), modules=modules, time_to_live=ttl)
