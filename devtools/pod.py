"""A rendered Kubernetes Deployment's container, as a kubelet would start it, for
devtools.container: its environment (Secret references resolved), its command, user, read-only
root and emptyDir volumes.

Only the parts of a pod spec that the predictor chart uses are read; anything else that would
change how the container starts (a ConfigMap reference, a hostPath volume) is refused, so that a
test never starts something other than what the spec says.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devtools.container_config import Overrides


@dataclass(frozen=True)
class StartSpec:
    """What the runtime is given for one container."""

    env: dict[str, str]
    overrides: Overrides


def secret_data(secret: Mapping[str, Any]) -> dict[str, str]:
    """A Secret's keys and values, from ``stringData`` and (base64) ``data`` as the API merges
    them (``stringData`` wins)."""
    data = {
        key: base64.b64decode(value).decode("utf-8")
        for key, value in (secret.get("data") or {}).items()
    }
    return {**data, **(secret.get("stringData") or {})}


def container_start(
    deployment: Mapping[str, Any],
    secrets: Mapping[str, Mapping[str, str]],
    container: str | None = None,
) -> StartSpec:
    """How ``container`` (the first if None) of ``deployment`` starts; ``secrets`` maps Secret
    names to their data. A missing Secret key is an error unless the reference is optional."""
    pod = deployment["spec"]["template"]["spec"]
    containers = pod["containers"]
    spec = next(c for c in containers if container in (None, c["name"]))
    env: dict[str, str] = {}
    for item in spec.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        ref = (item.get("valueFrom") or {}).get("secretKeyRef")
        if ref is None:
            raise ValueError(f"env {item['name']}: only values and secretKeyRef are supported")
        data = secrets.get(ref["name"])
        if data is not None and ref["key"] in data:
            env[item["name"]] = data[ref["key"]]
        elif not ref.get("optional", False):
            raise ValueError(f"env {item['name']}: Secret {ref['name']} has no {ref['key']}")
    if spec.get("envFrom"):
        raise ValueError("envFrom is not supported")

    volumes = {volume["name"]: volume for volume in pod.get("volumes") or []}
    tmpfs: list[str] = []
    for mount in spec.get("volumeMounts") or []:
        volume = volumes[mount["name"]]
        if set(volume) != {"name", "emptyDir"}:
            raise ValueError(f"volume {mount['name']}: only emptyDir volumes are supported")
        tmpfs.append(mount["mountPath"])

    # The container's securityContext wins over the pod's, field by field.
    security = {**(pod.get("securityContext") or {}), **(spec.get("securityContext") or {})}
    user = security.get("runAsUser")
    if "runAsGroup" in security:
        user = f"{user if user is not None else 0}:{security['runAsGroup']}"
    return StartSpec(
        env=env,
        overrides=Overrides(
            command=spec.get("command"),
            args=spec.get("args"),
            user=None if user is None else str(user),
            read_only_root=bool(security.get("readOnlyRootFilesystem", False)),
            tmpfs=tuple(tmpfs),
        ),
    )
