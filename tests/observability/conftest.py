"""The predictor fixtures (models, a real server on loopback) for the observability tests."""

from tests.support.predictor_fixtures import client, make_settings, models

__all__ = ["client", "make_settings", "models"]
