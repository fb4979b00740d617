"""The predictor's settings: one typed place, read from ``PREDICTOR_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The largest message the IoT SDK sends and edgeHub takes, body and properties together: the
# SDK's TELEMETRY_MESSAGE_SIZE_LIMIT (not imported here: the SDK loads after the HTTP API).
EDGEHUB_MESSAGE_LIMIT = 262_144


class Settings(BaseSettings):
    """Every knob of the predictor module; docs/predictor.md lists them as a table."""

    model_config = SettingsConfigDict(env_prefix="PREDICTOR_", frozen=True, extra="ignore")

    http_host: str = Field(
        default="0.0.0.0",
        description="Address the local HTTP API listens on.",
    )
    http_port: int = Field(
        default=8080, ge=1, le=65535, description="TCP port of the local HTTP API."
    )
    model_cache_dir: Path = Field(
        default=Path("/var/lib/predictor"),
        description=(
            "Directory that keeps the last successfully applied model, so that the device "
            "can start offline; bind it to a host volume."
        ),
    )
    default_model: Path = Field(
        default=Path("/app/models/default.onnx"),
        description="ONNX model bundled in the image, served when the cache holds none.",
    )
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="Largest request body accepted, in bytes; a larger one gets 413.",
    )
    http_body_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description=(
            "Seconds a client gets to send the rest of its request body once the headers are "
            "in; a slower one gets 408 and its connection is closed."
        ),
    )
    http_token: SecretStr | None = Field(
        default=None,
        description=(
            "If set, every HTTP route but the health checks (/healthz, /readyz, "
            "/v2/health/live, /v2/health/ready) needs `Authorization: Bearer <token>`, else "
            "401. Set it before opening the port beyond the device's loopback."
        ),
    )
    max_rows: int = Field(
        default=1000, ge=1, description="Most rows (instances) one prediction request may hold."
    )
    inference_threads: int = Field(
        default=1,
        ge=1,
        le=64,
        description=(
            "ONNX Runtime intra-op threads per model; 1 suits small batches on a small device."
        ),
    )
    event_loop: Literal["asyncio", "uvloop"] = Field(
        default="asyncio",
        description=(
            "Event loop: the standard library's asyncio, or uvloop if installed (not in the "
            "image: it did not help here, see BENCHMARKS.md)."
        ),
    )
    coalesce: bool = Field(
        default=True,
        description=(
            "Answer concurrent prediction requests with one inference call (no added wait)."
        ),
    )
    shutdown_timeout: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Seconds that running requests get to finish after SIGTERM.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Lowest severity written to stdout."
    )
    access_log: bool = Field(
        default=False, description="Write one log line per HTTP request (noisy on a device)."
    )
    # IoT Edge: module inputs, outputs and model updates through the module twin.
    telemetry_input: str = Field(
        default="telemetry",
        min_length=1,
        description="Module input whose messages are predicted (routed by edgeHub).",
    )
    predictions_output: str = Field(
        default="predictions", min_length=1, description="Module output for predictions."
    )
    errors_output: str = Field(
        default="errors",
        min_length=1,
        description="Module output for messages that could not be predicted, with the reason.",
    )
    max_message_bytes: int = Field(
        default=250_000,
        ge=4096,
        le=EDGEHUB_MESSAGE_LIMIT,
        description=(
            "Largest output message, body and properties together, as the SDK and edgeHub "
            "count them (at most 262144, their 256 KB limit). A larger answer is split into "
            "parts that each carry the input's properties; one that cannot fit goes to the "
            "errors output."
        ),
    )
    max_models: int = Field(
        default=16,
        ge=0,
        le=32,
        description=(
            "Most named models (the twin's `models`) served beside the default model; each "
            "has its own ONNX Runtime session and a share of the twin's 32 KB of reported "
            "properties (docs/predictor.md, Several models)."
        ),
    )
    report_interval_seconds: float = Field(
        default=60.0,
        ge=0.1,
        le=3600,
        description=(
            "Shortest time between two reports of a shadow model's comparison to the twin "
            "(and between two promotion checks)."
        ),
    )
    drift_window_rows: int = Field(
        default=1000,
        ge=0,
        le=100_000,
        description=(
            "Rows of the sliding window each model's input drift is computed over, against "
            "the profile its file carries; 0 turns drift tracking off."
        ),
    )
    monitoring_output: str = Field(
        default="",
        description=(
            "If set, a module output that gets a summary message every "
            "PREDICTOR_REPORT_INTERVAL_SECONDS: each model's drift and each shadow's "
            "comparison (aggregates only)."
        ),
    )
    allow_http_model_urls: bool = Field(
        default=False,
        description="Accept plain http:// model URLs (for local use with Azurite only).",
    )
    model_url_hosts: list[str] = Field(
        default_factory=list,
        description=(
            "If set, model URLs must name one of these hosts (e.g. your storage account's "
            "blob host); a JSON list."
        ),
    )
    max_model_bytes: int = Field(
        default=50 * 1024 * 1024,
        ge=1024,
        description=(
            "Largest model file downloaded, in bytes; counted as the bytes arrive, whatever "
            "the storage says the size is."
        ),
    )
    model_check_seconds: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description=(
            "Longest time a model from the twin may take to load and answer its smoke "
            "prediction in the checking child process; past it, it is refused."
        ),
    )
    model_check_memory_mb: int = Field(
        default=1024,
        ge=256,
        le=65536,
        description=(
            "Address space (MB) of the child process that checks a model from the twin; a "
            "model that needs more is refused. The child itself takes about 250 MB."
        ),
    )
    download_attempts: int = Field(
        default=4, ge=1, le=20, description="Tries per model download before reporting failed."
    )
    download_backoff_seconds: float = Field(
        default=1.0,
        ge=0,
        le=300,
        description="First wait between download tries; it doubles after each failed try.",
    )
    download_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Seconds without progress before a model download is abandoned.",
    )
    iot_reconnect_seconds: int = Field(
        default=10,
        ge=1,
        le=300,
        description="Seconds between two tries to reach edgeHub after the connection drops.",
    )
    iot_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description=(
            "Longest wait for one edgeHub operation (connect, twin read, subscribe, a send's "
            "acknowledgement); a send past it replaces the client."
        ),
    )
    storage_connection_string: SecretStr | None = Field(
        default=None,
        description=(
            "Storage account connection string. If set, model URLs must name its blob host, "
            "and its key signs only URLs without a SAS under its own blob endpoint. Prefer SAS "
            "URLs: then the device holds no account key."
        ),
    )
    # A model from Blob Storage without a twin (follow.py, docs/run-anywhere.md).
    model_url: SecretStr | None = Field(
        default=None,
        description=(
            "A model blob URL (a SAS URL, or a plain URL under "
            "PREDICTOR_STORAGE_CONNECTION_STRING's endpoint) fetched, checked and cached at "
            "start as a twin target is; or a pointer blob (a path ending in `.json`, as "
            "`trainer publish --pointer` writes it), re-read every "
            "PREDICTOR_MODEL_POLL_SECONDS. Under IoT Edge, a desired `model` in the twin wins."
        ),
    )
    model_sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-fA-F]{64}$",
        description=(
            "The sha256 the PREDICTOR_MODEL_URL blob must have; unset: the `sha256` in the "
            "blob's metadata (as `trainer publish` writes it). Not used with a pointer."
        ),
    )
    model_signature: str | None = Field(
        default=None,
        max_length=200,
        description=(
            "Base64 Ed25519 signature of the PREDICTOR_MODEL_URL blob (needed when "
            "PREDICTOR_MODEL_PUBLIC_KEY is set). Not used with a pointer: it carries its own."
        ),
    )
    model_poll_seconds: float = Field(
        default=60.0,
        ge=0,
        le=86400,
        description=(
            "Seconds between two reads of a PREDICTOR_MODEL_URL pointer (one small conditional "
            "GET: 304 while it is unchanged); 0 reads it at start only."
        ),
    )
    model_public_key: str | None = Field(
        default=None,
        description=(
            "Ed25519 public key (PEM, or base64 as `trainer keygen` prints it). If set, a model "
            "from the twin is taken only with a valid `signature`; see docs/reliability.md."
        ),
    )

    @field_validator("http_token")
    @classmethod
    def _a_real_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None  # an empty variable means no token, not the empty token
        if value.get_secret_value() != value.get_secret_value().strip():
            raise ValueError("PREDICTOR_HTTP_TOKEN must not start or end with white space")
        return value

    @field_validator("model_sha256", "model_signature", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("model_url")
    @classmethod
    def _a_url_or_none(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None  # an empty variable (a chart without a URL) means no URL
        return SecretStr(value.get_secret_value().strip())

    @field_validator("model_public_key")
    @classmethod
    def _a_usable_key(cls, value: str | None) -> str | None:
        if value is not None and value.strip():
            from predictor.signature import load_public_key  # only when a key is set

            load_public_key(value)  # a bad key stops the module at start, with the reason
            return value
        return None
