"""The sensor's settings, read from the environment (prefix ``SENSOR_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting of the simulated sensor module."""

    model_config = SettingsConfigDict(env_prefix="SENSOR_")

    output: str = Field("telemetry", description="Module output the measurements are sent on.")
    interval_seconds: float = Field(
        1.0, gt=0, le=3600, description="Seconds between two measurements."
    )
    batch_size: int = Field(
        1, ge=1, le=1000, description="Flowers per message: 1 sends one object, more an array."
    )
    max_messages: int = Field(
        0, ge=0, description="Stop after this many messages; 0 sends for ever."
    )
    seed: int | None = Field(None, description="Random seed, for repeatable runs.")
