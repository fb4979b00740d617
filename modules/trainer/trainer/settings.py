"""Configuration from the environment, for ``trainer run`` (the container's default command).

Every field is read from ``TRAINER_<FIELD>`` (e.g. ``TRAINER_C``, ``TRAINER_CONTAINER``), except the
connection string, which is ``AZURE_STORAGE_CONNECTION_STRING`` as in the Azure SDKs and CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from trainer.deployment import DEFAULT_MODULE, DEFAULT_PRIORITY
from trainer.device import PREDICTOR_RUNTIME
from trainer.errors import TrainerError
from trainer.naming import DEFAULT_NAME
from trainer.parity_points import RANDOM_POINTS
from trainer.publish import DEFAULT_CONTAINER, DEFAULT_SAS_DAYS
from trainer.storage import CONNECTION_STRING_ENV, StorageOptions

ENV_PREFIX = "TRAINER_"

S = TypeVar("S", bound="StorageSettings")


class SettingsError(TrainerError):
    """An environment variable has a value of the wrong type."""


class StorageSettings(BaseSettings):
    """How to reach Blob Storage (used by ``publish`` and ``run``)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="ignore")

    connection_string: SecretStr | None = Field(
        default=None, validation_alias=CONNECTION_STRING_ENV
    )
    """The storage account, with its AccountKey (needed to sign the devices' read-only SAS)."""
    storage_retries: int = 2
    """Retries of a failed storage request (1 s apart): fail in seconds when unreachable."""
    storage_timeout: float = 5.0
    """Seconds to wait for a connection to the storage account."""
    signing_key: Path | None = None
    """Ed25519 private key (PEM, from ``trainer keygen``): the twin patch carries a signature."""

    def options(self) -> StorageOptions:
        return StorageOptions(retries=self.storage_retries, connect_timeout=self.storage_timeout)

    def secret(self) -> str | None:
        return None if self.connection_string is None else self.connection_string.get_secret_value()


class RunSettings(StorageSettings):
    """Everything ``trainer run`` needs: a nightly retraining job configured by its environment."""

    name: str = DEFAULT_NAME
    """Model name: the blob folder and the contract's ``model_name``."""
    version: str | None = None
    """Model version; a UTC timestamp such as ``20261125.175209`` when unset."""
    c: float = 1.0
    gamma: str = "scale"
    """``scale``, ``auto`` or a positive number."""
    kernel: str = "rbf"
    seed: int = 42
    test_size: float = 0.2
    cv_folds: int = 5
    parity_points: int = RANDOM_POINTS
    min_accuracy: float | None = None
    """Held-out accuracy (0 to 1) a model needs to be published; below it the run exits 3."""
    container: str = DEFAULT_CONTAINER
    sas_days: int = DEFAULT_SAS_DAYS
    overwrite: bool = False
    output: Path | None = None
    """Also keep a copy of the model here."""
    twin_patch: Path | None = None
    """Also write the twin patch to this file."""
    layered_deployment: Path | None = None
    """Also write a layered deployment here (needs ``TRAINER_TARGET_CONDITION``)."""
    target_condition: str | None = None
    priority: int = DEFAULT_PRIORITY
    module: str = DEFAULT_MODULE
    device_runtime: str = PREDICTOR_RUNTIME
    """The fleet's ONNX Runtime (``1.20``): a model it cannot load is not published."""


def load(cls: type[S]) -> S:
    """``cls()`` from the environment; errors name the variable, never its value."""
    try:
        return cls()
    except ValidationError as exc:
        problems = "; ".join(
            f"{_variable(cls, error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise SettingsError(f"bad environment: {problems}") from None


def _variable(cls: type[BaseSettings], loc: tuple[int | str, ...]) -> str:
    name = str(loc[0]) if loc else "?"
    field = cls.model_fields.get(name)
    if field is not None and isinstance(field.validation_alias, str):
        return field.validation_alias
    if name == CONNECTION_STRING_ENV:
        return name
    return f"{ENV_PREFIX}{name.upper()}"
