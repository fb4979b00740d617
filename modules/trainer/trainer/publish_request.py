"""What ``publish`` is asked to do besides uploading: where the blob goes, which patches and
layered deployment it writes, how the model is signed and checked against the fleet's runtime,
and whether it goes out as a shadow (checked before anything is uploaded)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from trainer import device
from trainer.deployment import (
    DEFAULT_MODULE,
    DEFAULT_PRIORITY,
    LayeredDeployment,
    deployment_id_for,
)
from trainer.errors import UsageError
from trainer.outputs import check_writable
from trainer.publish import (
    DEFAULT_CONTAINER,
    DEFAULT_SAS_DAYS,
    check_container_name,
    check_sas_days,
)
from trainer.storage import StorageOptions


@dataclass(frozen=True)
class DeploymentRequest:
    """Write a layered deployment to ``path`` for the devices ``target_condition`` selects."""

    path: Path
    target_condition: str
    priority: int = DEFAULT_PRIORITY
    module: str = DEFAULT_MODULE

    @classmethod
    def from_options(
        cls,
        path: Path | None,
        target_condition: str | None,
        priority: int,
        module: str,
        names: tuple[str, str] = ("--layered-deployment", "--target-condition"),
    ) -> DeploymentRequest | None:
        """None when neither is given; ``names`` are the flags or variables, for the message."""
        if path is None and target_condition is None:
            return None
        if path is None:
            raise UsageError(f"{names[1]} needs {names[0]}")
        if target_condition is None:
            raise UsageError(f"{names[0]} needs {names[1]}")
        return cls(path, target_condition, priority, module)

    def for_model(self, name: str, version: str) -> LayeredDeployment:
        return LayeredDeployment(
            deployment_id=deployment_id_for(name, version),
            target_condition=self.target_condition,
            priority=self.priority,
            module=self.module,
        )


@dataclass(frozen=True)
class PublishRequest:
    container: str = DEFAULT_CONTAINER
    overwrite: bool = False
    sas_days: int = DEFAULT_SAS_DAYS
    twin_patch: Path | None = None
    deployment: DeploymentRequest | None = None
    storage: StorageOptions = field(default_factory=StorageOptions)
    signing_key: Path | None = None
    device_runtime: str = device.PREDICTOR_RUNTIME
    """The fleet's ONNX Runtime: a model it cannot load is not published."""
    pointer: bool = False
    """Also point ``<name>/latest.json`` at this version (pointer.py)."""
    shadow: bool = False
    """Publish as a shadow of the served model of the same name, not as that model."""
    promote: tuple[int, float] | None = None
    """With ``shadow``: make it live once it was compared on this many rows with this much
    agreement (min_rows, min_agreement)."""

    def check(self, name: str, version: str) -> LayeredDeployment | None:
        """Check every option for model ``name`` ``version``; the deployment it will write."""
        device.limits(self.device_runtime)
        check_container_name(self.container)
        if self.promote is not None:
            rows, agreement = self.promote
            if not self.shadow:
                raise ValueError("--promote-min-rows/--promote-min-agreement need --shadow")
            if rows < 1 or not 0 <= agreement <= 1:
                raise ValueError("promotion needs min rows >= 1 and min agreement from 0 to 1")
        check_sas_days(self.sas_days)
        for path in (self.twin_patch, self.deployment.path if self.deployment else None):
            if path is not None:
                check_writable(path)
        if self.deployment is None:
            return None
        # A shadow's deployment is another one than the model's of the same version.
        return self.deployment.for_model(name, f"{version}-shadow" if self.shadow else version)
