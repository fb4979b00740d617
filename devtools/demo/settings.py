"""The demo's settings: one typed place, read from ``DEMO_*`` variables (flags override them)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the demo; docs/demo.md lists them."""

    model_config = SettingsConfigDict(env_prefix="DEMO_", frozen=True, extra="ignore")

    state_dir: Path = Field(
        default=Path(".demo"), description="Logs, Azurite data, models and the emulator's files."
    )
    keep: bool = Field(
        default=False, description="Leave everything running at the end (as --keep-running)."
    )
    http_port: int = Field(
        default=8080, ge=0, le=65535, description="The predictor's HTTP port (0: any free one)."
    )
    azurite_port: int = Field(
        default=10000, ge=0, le=65535, description="Azurite's Blob port (0: any free one)."
    )
    control_port: int = Field(
        default=8099, ge=0, le=65535, description="The emulator's control API port (0: any)."
    )
    sensor_interval_seconds: float = Field(
        default=0.2, gt=0, le=60, description="Seconds between two sensor messages."
    )
    step_timeout_seconds: float = Field(
        default=90.0, gt=0, le=600, description="Longest wait for one thing to happen."
    )
