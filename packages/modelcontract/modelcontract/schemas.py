"""JSON Schemas of the twin's desired ``model``, ``models``, ``shadow`` and ``capture`` values and
of the pointer document, for tools that write them (deployment manifests, CI). They say what a
device takes; the device's own checks (and their messages) remain the authority."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

__all__ = ["SCHEMAS", "schema"]

SCHEMAS = ("model", "models", "shadow", "capture", "pointer")


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema ``name`` (one of SCHEMAS)."""
    if name not in SCHEMAS:
        raise ValueError(f"no schema {name!r} (known: {', '.join(SCHEMAS)})")
    text = resources.files("modelcontract").joinpath("schemas", f"{name}.json").read_text("utf-8")
    value: dict[str, Any] = json.loads(text)
    return value
