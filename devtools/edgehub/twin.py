"""Module twins: desired and reported sections with ``$version``, merged like IoT Hub does."""

from __future__ import annotations

import copy
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
