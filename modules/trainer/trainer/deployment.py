"""An IoT Edge layered deployment that points the predictor module of some devices at a model.

The file is an IoT Hub configuration: ``az iot edge deployment create --layered --content FILE``
reads its ``content`` and ignores the other keys, so ``id``, ``targetCondition``, ``priority`` and
``labels`` (the same fields of the REST API's configuration object) are repeated as flags in the
command that ``az_command`` gives. Only the module twin's ``properties.desired.model`` path is set,
so other desired properties are left alone.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MODULE = "predictor"
DEFAULT_PRIORITY = 10
TWIN_PROPERTY = "model"
SHADOW_PROPERTY = "shadow"

# IoT Hub configuration ids: lowercase letters, digits and a few symbols; we keep to a safe subset.
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")
_MODULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class LayeredDeployment:
    deployment_id: str
    target_condition: str
    priority: int = DEFAULT_PRIORITY
    module: str = DEFAULT_MODULE

    def __post_init__(self) -> None:
        if not _ID.match(self.deployment_id):
            raise ValueError(f"deployment id {self.deployment_id!r} is not valid")
        condition = self.target_condition.strip()
        if not condition or "\n" in condition or len(condition) > 1024:
            raise ValueError("the target condition must be one non-empty line, e.g. tags.ring='a'")
        if not 0 <= self.priority <= 2**31 - 1:
            raise ValueError(f"the priority must be a non-negative integer, not {self.priority}")
        if not _MODULE.match(self.module):
            raise ValueError(f"module name {self.module!r} is not a valid IoT Edge module name")

    def document(self, twin_patch: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
        """The deployment as JSON: sets ``properties.desired.model`` of the module (or, for a
        shadow patch, ``properties.desired.shadow.<name>``), nothing else."""
        path, desired = _desired_path(twin_patch)
        return {
            "id": self.deployment_id,
            "targetCondition": self.target_condition.strip(),
            "priority": self.priority,
            "labels": labels,
            "content": {
                "modulesContent": {
                    self.module: {f"properties.desired.{path}": desired},
                }
            },
        }

    def az_command(self, path: Path, labels: dict[str, str]) -> str:
        """The Azure CLI command that creates this deployment (the hub name left to fill in)."""
        return shlex.join(
            [
                "az",
                "iot",
                "edge",
                "deployment",
                "create",
                "--layered",
                "--hub-name",
                "<hub>",
                "--deployment-id",
                self.deployment_id,
                "--content",
                str(path),
                "--target-condition",
                self.target_condition.strip(),
                "--priority",
                str(self.priority),
                "--labels",
                json.dumps(labels, separators=(",", ":"), sort_keys=True),
            ]
        )


def deployment_id_for(name: str, version: str) -> str:
    """``iris-svm-20261125-175209`` for model ``iris-svm`` version ``20261125.175209``."""
    return re.sub(r"[^a-z0-9-]", "-", f"{name}-{version}".lower())[:128]


def _desired_path(twin_patch: dict[str, Any]) -> tuple[str, Any]:
    """Where the patch goes in the module twin, and its value."""
    if TWIN_PROPERTY in twin_patch:
        return TWIN_PROPERTY, twin_patch[TWIN_PROPERTY]
    [(name, target)] = twin_patch[SHADOW_PROPERTY].items()
    return f"{SHADOW_PROPERTY}.{name}", target
