"""The IoT tests' fixtures (tests/support/iot_fixtures.py): real models, a real model manager, and
the edgeHub emulator wired by the real deployment's routes."""

from tests.support.iot_fixtures import hub, iot_models, manager

__all__ = ["hub", "iot_models", "manager"]
