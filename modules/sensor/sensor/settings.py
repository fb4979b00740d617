"""The sensor's settings, read from the environment (prefix ``SENSOR_``)."""

from __future__ import annotations

import math

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sensor.readings import FEATURES


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
    drift: dict[str, float] = Field(
        default_factory=dict,
        description="Added to each named feature's readings (cm), as JSON such as "
        '{"petal_length": 2.5}: a sensor that drifts, for the demo\'s capture step.',
    )

    @field_validator("drift")
    @classmethod
    def _known_features(cls, drift: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(drift) - set(FEATURES))
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not a feature: one of {', '.join(FEATURES)}")
        if any(not math.isfinite(v) or abs(v) > 100 for v in drift.values()):
            raise ValueError("a drift is a finite number of cm, at most 100")
        return drift
