"""Reliability fixtures: the predictor's real models and servers, shared with its own tests."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# Re-exported fixtures: a real server on loopback (client), the real IoT models, and the
# edgeHub emulator wired by the real deployment's routes (hub).
from tests.support.iot_fixtures import hub, iot_models, manager
from tests.support.predictor_fixtures import client, make_settings, models

__all__ = ["client", "hub", "iot_models", "make_settings", "manager", "models"]

# Bounded and deterministic: the whole suite must stay fast on 2 shared cores. A server or a
# manager shared by every example of one test is intended (hence the health check is off).
settings.register_profile(
    "reliability",
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("reliability")
