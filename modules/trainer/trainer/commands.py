"""What ``train``, ``publish`` and ``run`` do, given plain values (the CLI only parses).

``publish`` returns a PublishedModel: the CLI prints its ``summary``, the notebook API
(``publish_model``) returns it as it is.

Everything that can be checked is checked before the slow or irreversible step: outputs and the
deployment before training, the connection string and container before uploading.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from trainer import device, parity_points, parity_report, signing
from trainer.build import build_model, check_min_accuracy
from trainer.deployment import (
    LayeredDeployment,
)
from trainer.files import write_atomic
from trainer.model_file import ModelFile, check_model_bytes
from trainer.naming import check_name, check_version, default_version
from trainer.outputs import check_writable, write_json
from trainer.pointer import write_pointer
from trainer.publish import (
    Published,
)
from trainer.publish import publish as publish_blob
from trainer.publish_request import DeploymentRequest, PublishRequest
from trainer.settings import RunSettings
from trainer.storage import connect, parse_connection_string
from trainer.training import Hyperparameters


def shadow_patch(
    patch: dict[str, Any], name: str, promote: tuple[int, float] | None
) -> dict[str, Any]:
    """The desired ``shadow`` entry for ``name`` that the ``model`` patch would have been: the
    device runs it beside the live model and compares (docs/predictor.md, Shadow models)."""
    target = dict(patch["model"])
    if promote is not None:
        target["promote"] = {"min_rows": promote[0], "min_agreement": promote[1]}
    return {"shadow": {name: target}}


def train(
    params: Hyperparameters,
    name: str,
    version: str | None,
    output: Path,
    *,
    parity_points: int = parity_points.RANDOM_POINTS,
    parity_tolerance: float = parity_report.TOLERANCE,
    min_accuracy: float | None = None,
    device_runtime: str = device.PREDICTOR_RUNTIME,
    extra_data: Sequence[Path] = (),
) -> dict[str, Any]:
    """Train (on iris and the ``extra_data`` CSV files), gate and write the model to
    ``output``; the summary."""
    check_writable(output)
    built = build_model(
        params,
        name,
        version or default_version(),
        parity_points=parity_points,
        parity_tolerance=parity_tolerance,
        min_accuracy=min_accuracy,
        device_runtime=device_runtime,
        extra_data=extra_data,
    )
    write_atomic(output, built.data)
    return {
        **built.summary(),
        "extra_data": [str(path) for path in extra_data],
        "hyperparameters": asdict(params),
        "min_accuracy": min_accuracy,
        "output": str(output),
    }


@dataclass(frozen=True)
class PublishedModel:
    """Where a published model is, the twin patch that points devices at it, the files written."""

    upload: Published
    twin_patch: dict[str, Any]
    """The desired ``model`` property, with the model's ``signature`` when a key signed it."""
    twin_patch_file: Path | None = None
    deployment: LayeredDeployment | None = None
    deployment_file: Path | None = None
    pointer: dict[str, Any] | None = None
    """The pointer blob written (``--pointer``), with its container read URL (pointer.py)."""

    @property
    def name(self) -> str:
        return self.upload.name

    @property
    def version(self) -> str:
        return self.upload.version

    @property
    def sha256(self) -> str:
        return self.upload.sha256

    @property
    def blob_url(self) -> str:
        return self.upload.blob_url

    @property
    def layered_deployment(self) -> dict[str, Any] | None:
        """The layered deployment written, and the ``az`` command that creates it."""
        if self.deployment is None or self.deployment_file is None:
            return None
        return {
            "file": str(self.deployment_file),
            "id": self.deployment.deployment_id,
            "target_condition": self.deployment.target_condition,
            "priority": self.deployment.priority,
            "module": self.deployment.module,
            "az_command": self.deployment.az_command(self.deployment_file, self.labels),
        }

    @property
    def labels(self) -> dict[str, str]:
        """The IoT Hub labels of the deployment: which model and version it sets."""
        return {"model": self.name, "modelVersion": self.version}

    @property
    def summary(self) -> dict[str, Any]:
        """What ``trainer publish`` prints."""
        summary = {**self.upload.summary(), "twin_patch": self.twin_patch}
        if self.twin_patch_file is not None:
            summary["twin_patch_file"] = str(self.twin_patch_file)
        if self.layered_deployment is not None:
            summary["layered_deployment"] = self.layered_deployment
        if self.pointer is not None:
            summary["pointer"] = self.pointer
        return summary


def publish(
    model: ModelFile, connection_string: str | None, request: PublishRequest
) -> PublishedModel:
    """Upload ``model``, then write the twin patch and deployment files the request names."""
    name, version = model.contract.model_name, model.contract.model_version
    layered = request.check(name, version)
    device.check_bytes(model.data, request.device_runtime)
    # Read before uploading: a key that cannot sign fails before anything is published.
    key = signing.load_private_key(request.signing_key) if request.signing_key else None
    service = connect(connection_string, request.storage)
    upload = publish_blob(
        service,
        model,
        request.container,
        overwrite=request.overwrite,
        sas_days=request.sas_days,
    )
    patch = upload.twin_patch()
    if key is not None:
        patch["model"]["signature"] = signing.sign(model.data, key)
    if request.shadow:
        patch = shadow_patch(patch, name, request.promote)
    pointer = None
    if request.pointer:
        signature = patch["model"].get("signature")
        pointer = write_pointer(service, upload, signature, request.sas_days).summary()
    published = PublishedModel(
        upload,
        patch,
        twin_patch_file=request.twin_patch,
        deployment=layered,
        deployment_file=request.deployment.path if request.deployment else None,
        pointer=pointer,
    )
    if published.twin_patch_file is not None:
        write_json(published.twin_patch_file, patch)
    if published.deployment is not None and published.deployment_file is not None:
        document = published.deployment.document(patch, published.labels)
        write_json(published.deployment_file, document)
    return published


def run(settings: RunSettings) -> dict[str, Any]:
    """Train then publish, as configured by the environment; the summary of both."""
    name = check_name(settings.name)
    version = check_version(settings.version or default_version())
    params = Hyperparameters.of(settings)
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
    published = publish(check_model_bytes(built.data), settings.secret(), request)
    trained = {
        **built.summary(),
        "hyperparameters": asdict(params),
        "min_accuracy": settings.min_accuracy,
    }
    return {"trained": trained, **published.summary}
