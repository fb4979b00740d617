"""The predictor's settings: one typed place, read from ``PREDICTOR_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
