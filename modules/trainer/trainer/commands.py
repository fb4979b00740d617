"""What ``train``, ``publish`` and ``run`` do, given plain values (the CLI only parses).

Everything that can be checked is checked before the slow or irreversible step: outputs and the
deployment before training, the connection string and container before uploading.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trainer import device, parity, signing
from trainer.build import build_model, check_min_accuracy
from trainer.deployment import (
    DEFAULT_MODULE,
    DEFAULT_PRIORITY,
    LayeredDeployment,
    deployment_id_for,
)
from trainer.errors import UsageError
from trainer.files import write_atomic
from trainer.model_file import ModelFile, check_model_bytes
from trainer.naming import check_name, check_version, default_version
from trainer.outputs import check_writable, write_json
from trainer.pointer import write_pointer
from trainer.publish import (
    DEFAULT_CONTAINER,
    DEFAULT_SAS_DAYS,
    check_container_name,
    check_sas_days,
    publish,
)
from trainer.settings import RunSettings
from trainer.storage import StorageOptions, connect, parse_connection_string
from trainer.training import Hyperparameters, parse_gamma


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

    def check(self, name: str, version: str) -> LayeredDeployment | None:
        """Check every option for model ``name`` ``version``; the deployment it will write."""
        device.limits(self.device_runtime)
        check_container_name(self.container)
        check_sas_days(self.sas_days)
        for path in (self.twin_patch, self.deployment.path if self.deployment else None):
            if path is not None:
                check_writable(path)
        return self.deployment.for_model(name, version) if self.deployment else None


def train(
    params: Hyperparameters,
    name: str,
    version: str | None,
    output: Path,
    *,
    parity_points: int = parity.RANDOM_POINTS,
    parity_tolerance: float = parity.TOLERANCE,
    min_accuracy: float | None = None,
    device_runtime: str = device.PREDICTOR_RUNTIME,
) -> dict[str, Any]:
    """Train, gate and write the model to ``output``; the summary."""
    check_writable(output)
    built = build_model(
        params,
        name,
        version or default_version(),
        parity_points=parity_points,
        parity_tolerance=parity_tolerance,
        min_accuracy=min_accuracy,
        device_runtime=device_runtime,
    )
    write_atomic(output, built.data)
    return {
        **built.summary(),
        "hyperparameters": asdict(params),
        "min_accuracy": min_accuracy,
        "output": str(output),
    }


def publish_model(
    model: ModelFile, connection_string: str | None, request: PublishRequest
) -> dict[str, Any]:
    """Upload ``model``, then write the twin patch and deployment files; the summary."""
    name, version = model.contract.model_name, model.contract.model_version
    layered = request.check(name, version)
    device.check_bytes(model.data, request.device_runtime)
    # Read before uploading: a key that cannot sign fails before anything is published.
    key = signing.load_private_key(request.signing_key) if request.signing_key else None
    service = connect(connection_string, request.storage)
    published = publish(
        service,
        model,
        request.container,
        overwrite=request.overwrite,
        sas_days=request.sas_days,
    )
    result = published.summary()
    patch = published.twin_patch()
    if key is not None:
        patch["model"]["signature"] = signing.sign(model.data, key)
        result["twin_patch"] = patch
    if request.pointer:
        signature = patch["model"].get("signature")
        result["pointer"] = write_pointer(service, published, signature, request.sas_days).summary()
    if request.twin_patch is not None:
        write_json(request.twin_patch, patch)
        result["twin_patch_file"] = str(request.twin_patch)
    if layered is not None and request.deployment is not None:
        path = request.deployment.path
        labels = {"model": name, "modelVersion": version}
        write_json(path, layered.document(patch, labels))
        result["layered_deployment"] = {
            "file": str(path),
            "id": layered.deployment_id,
            "target_condition": layered.target_condition,
            "priority": layered.priority,
            "module": layered.module,
            "az_command": layered.az_command(path, labels),
        }
    return result


def run(settings: RunSettings) -> dict[str, Any]:
    """Train then publish, as configured by the environment; the summary of both."""
    name = check_name(settings.name)
    version = check_version(settings.version or default_version())
    params = Hyperparameters(
        c=settings.c,
        gamma=parse_gamma(settings.gamma),
        kernel=settings.kernel,
        seed=settings.seed,
        test_size=settings.test_size,
        cv_folds=settings.cv_folds,
    )
    params.validate()
    check_min_accuracy(settings.min_accuracy)
    request = PublishRequest(
        container=settings.container,
        overwrite=settings.overwrite,
        sas_days=settings.sas_days,
        twin_patch=settings.twin_patch,
        signing_key=settings.signing_key,
        deployment=DeploymentRequest.from_options(
            settings.layered_deployment,
            settings.target_condition,
            settings.priority,
            settings.module,
            names=("TRAINER_LAYERED_DEPLOYMENT", "TRAINER_TARGET_CONDITION"),
        ),
        storage=settings.options(),
        device_runtime=settings.device_runtime,
    )
    request.check(name, version)
    parse_connection_string(settings.secret())
    if settings.output is not None:
        check_writable(settings.output)

    built = build_model(
        params,
        name,
        version,
        parity_points=settings.parity_points,
        min_accuracy=settings.min_accuracy,
        device_runtime=settings.device_runtime,
    )
    if settings.output is not None:
        write_atomic(settings.output, built.data)
    published = publish_model(check_model_bytes(built.data), settings.secret(), request)
    trained = {
        **built.summary(),
        "hyperparameters": asdict(params),
        "min_accuracy": settings.min_accuracy,
    }
    return {"trained": trained, **published}
