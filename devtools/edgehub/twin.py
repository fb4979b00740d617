"""Module twins: desired and reported sections with ``$version``, merged like IoT Hub does."""

from __future__ import annotations

import copy
import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JsonObject = dict[str, Any]


def merge_patch(target: JsonObject, patch: Mapping[str, Any]) -> None:
    """Apply a twin patch in place: objects merge, ``None`` deletes, anything else replaces."""
    for key, value in patch.items():
        if key.startswith("$"):
            continue  # $version and friends belong to the twin, not to the patch's author
        if value is None:
            target.pop(key, None)
        elif isinstance(value, Mapping):
            current = target.get(key)
            if not isinstance(current, dict):
                current = target[key] = {}
            merge_patch(current, value)
        else:
            target[key] = copy.deepcopy(value)


def check_patch(patch: object) -> Mapping[str, Any]:
    """Return ``patch`` if it can be a twin patch (a JSON object), else raise ValueError."""
    if not isinstance(patch, Mapping):
        raise ValueError(f"a twin patch must be a JSON object, not {type(patch).__name__}")
    return patch


@dataclass
class Section:
    """One side of a twin. ``$version`` starts at 1 and goes up by one per patch."""

    properties: JsonObject = field(default_factory=dict)
    version: int = 1

    def apply(self, patch: Mapping[str, Any]) -> int:
        merge_patch(self.properties, check_patch(patch))
        self.version += 1
        return self.version

    def document(self) -> JsonObject:
        """The section as the service sends it: properties plus ``$version``."""
        return {**copy.deepcopy(self.properties), "$version": self.version}


@dataclass
class Twin:
    desired: Section = field(default_factory=Section)
    reported: Section = field(default_factory=Section)

    def document(self) -> JsonObject:
        """The body of a twin GET response."""
        return {"desired": self.desired.document(), "reported": self.reported.document()}


# -- edgeHub's reported-properties rules --------------------------------------------------------
# Follows edgeHub's
# edge-hub/core/src/Microsoft.Azure.Devices.Edge.Hub.Core/twin/ReportedPropertiesValidator.cs
# (the limits it takes from IoT Hub). edgeHub checks every reported patch against them before it
# stores the patch, online or not, and answers a refused one 400 with an empty body.
MAX_DEPTH = 10
MAX_VALUE_BYTES = 4096
MAX_NAME_BYTES = 1024
MAX_SAFE_INTEGER = 2**52 - 1
MIN_SAFE_INTEGER = -(2**52)
MAX_PATCH_BYTES = 32 * 1024


class ReportedPatchError(ValueError):
    """A reported patch edgeHub refuses; the message says why, as edgeHub's log would."""


def validate_reported(patch: Mapping[str, Any]) -> None:
    """Raise ReportedPatchError if edgeHub would refuse ``patch`` (a parsed JSON object)."""
    # The size of the patch as edgeHub serialises it again (compact JSON, UTF-8).
    size = len(json.dumps(patch, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if size > MAX_PATCH_BYTES:
        raise ReportedPatchError(f"Twin properties size {size} exceeds maximum {MAX_PATCH_BYTES}")
    _check_token("", patch, 0, in_array=False)


def _check_name(name: str) -> None:
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise ReportedPatchError(
            f"Length of property name {name[:10]}.. exceeds maximum length of {MAX_NAME_BYTES}"
        )
    for ch in name:
        # $ and # are reserved for the service; . separates the levels of a property path.
        if ch in ".$#" or ch.isspace() or unicodedata.category(ch) == "Cc":
            raise ReportedPatchError(f"Property name {name} contains invalid character {ch!r}")


def _check_depth(depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ReportedPatchError(f"Nested depth of twin property exceeds {MAX_DEPTH}")


def _check_token(name: str, item: Any, depth: int, *, in_array: bool) -> None:
    _check_name(name)
    if isinstance(item, Mapping):
        _check_depth(depth)
        for key, value in item.items():
            _check_token(str(key), value, depth + 1, in_array=in_array)
    elif isinstance(item, list):
        _check_depth(depth)
        _check_array(item, depth + 1)
    else:
        _check_value(name, item, in_array=in_array)


def _check_array(array: list[Any], depth: int) -> None:
    for item in array:
        if item is None:
            raise ReportedPatchError("Arrays cannot contain 'null' as value")
        if isinstance(item, list):
            _check_depth(depth)
            _check_array(item, depth + 1)
        else:
            _check_token("", item, depth, in_array=True)


def _check_value(name: str, value: Any, *, in_array: bool) -> None:
    if in_array and value is None:
        raise ReportedPatchError(f"Property {name} of an object in an array cannot be 'null'")
    if isinstance(value, int) and not isinstance(value, bool):
        if not MIN_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise ReportedPatchError(
                f"Property {name} has an out of bound value. Valid values are between "
                f"{MIN_SAFE_INTEGER} and {MAX_SAFE_INTEGER}"
            )
        return
    text = "" if value is None else value if isinstance(value, str) else json.dumps(value)
    size = len(text.encode("utf-8"))
    if size > MAX_VALUE_BYTES:
        raise ReportedPatchError(
            f"Value associated with property name {name} has length {size} that exceeds "
            f"maximum length of {MAX_VALUE_BYTES}"
        )


def parse_json(payload: bytes) -> Any:
    """JSON as edgeHub's parser takes it: no NaN or Infinity (ValueError otherwise)."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(payload or b"null", parse_constant=refuse)


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> JsonObject:
    """The patch that turns ``old`` into ``new``: changed and added keys, deleted ones as null.

    As edge-util/src/Microsoft.Azure.Devices.Edge.Util/JsonEx.cs ``Diff``, which edgeHub uses
    for the desired patch it sends a module when it reconnects to IoT Hub (``$version`` included,
    as any other key)."""
    patch: JsonObject = {}
    for key, value in old.items():
        if key not in new:
            patch[key] = None
        elif isinstance(value, Mapping) and isinstance(new[key], Mapping):
            if inner := diff(value, new[key]):
                patch[key] = inner
        elif value != new[key] or type(value) is not type(new[key]):
            patch[key] = copy.deepcopy(new[key])
    for key, value in new.items():
        if key not in old:
            patch[key] = copy.deepcopy(value)
    return patch
