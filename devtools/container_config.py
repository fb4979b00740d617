"""What a deployment or a pod changes about how an image runs (``container.py`` applies it): a
module's ``createOptions.HostConfig``, and a pod container's command, user, read-only root and
emptyDir volumes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.buildah import ImageConfig


@dataclass(frozen=True)
class HostConfig:
    """What this runtime applies of a module's ``createOptions.HostConfig``."""

    read_only_root: bool = False
    volumes: tuple[str, ...] = ()  # container paths of the named volumes in Binds
    tmpfs: tuple[str, ...] = ()
    drop_all_capabilities: bool = False
    no_new_privileges: bool = False

    @classmethod
    def from_create_options(cls, options: Mapping[str, Any]) -> HostConfig:
        host = options.get("HostConfig") or {}
        volumes = []
        for bind in host.get("Binds") or []:
            source, _, target = str(bind).partition(":")
            if source.startswith("/") or not target.startswith("/"):
                raise ValueError(f"only named volumes are reproduced here, not {bind!r}")
            volumes.append(target.split(":")[0])
        cap_drop = [str(c).upper() for c in host.get("CapDrop") or []]
        security = [str(o) for o in host.get("SecurityOpt") or []]
        return cls(
            read_only_root=bool(host.get("ReadonlyRootfs")),
            volumes=tuple(volumes),
            tmpfs=tuple(host.get("Tmpfs") or {}),
            drop_all_capabilities="ALL" in cap_drop,
            no_new_privileges=any(
                o in ("no-new-privileges", "no-new-privileges:true") for o in security
            ),
        )

    @classmethod
    def of_module(cls, template: Path, module: str) -> HostConfig:
        """The HostConfig of ``module`` in deployment template ``template``."""
        manifest = json.loads(template.read_text(encoding="utf-8"))
        agent = manifest["modulesContent"]["$edgeAgent"]["properties.desired"]
        return cls.from_create_options(agent["modules"][module]["settings"]["createOptions"])


@dataclass(frozen=True)
class Overrides:
    """What a pod's container spec may change about the image's own configuration.

    ``command`` replaces ENTRYPOINT and ``args`` replaces CMD, as Kubernetes does (``args``
    alone keeps the ENTRYPOINT); ``user`` replaces USER; ``tmpfs`` are absolute mount points
    (emptyDir volumes) that must exist in the image.
    """

    command: list[str] | None = None
    args: list[str] | None = None
    user: str | None = None
    read_only_root: bool = False
    tmpfs: tuple[str, ...] = field(default=())

    def argv(self, config: ImageConfig) -> list[str]:
        """The program the container runs: the image's, with ``command`` and ``args`` applied."""
        # Kubernetes treats an empty list as not given.
        command, args = self.command or None, self.args or None
        if command is None and args is None:
            return config.argv
        # A command given without args drops the image's CMD too.
        return [*(command or config.entrypoint), *(args or ([] if command else config.cmd))]
