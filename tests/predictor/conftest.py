"""The predictor tests' fixtures (tests/support/predictor_fixtures.py): real iris models built
once per session, settings with a fresh cache, and a real server on loopback."""

from tests.support.predictor_fixtures import client, make_settings, models

__all__ = ["client", "make_settings", "models"]
