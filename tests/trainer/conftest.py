"""Fixtures for the trainer's tests: one trained model per session, a fresh container per test."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from trainer.build import BuiltModel, build_model
from trainer.model_file import ModelFile, check_model_bytes
from trainer.training import Hyperparameters

VERSION = "1.0.0"


@pytest.fixture(scope="session")
def built() -> BuiltModel:
    """The default model, trained and gated once for the whole session (about a second)."""
    return build_model(Hyperparameters(), "iris-svm", VERSION)


@pytest.fixture(scope="session")
def model(built: BuiltModel) -> ModelFile:
    return check_model_bytes(built.data)


@pytest.fixture(scope="session")
def model_path(built: BuiltModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "model.onnx"
    path.write_bytes(built.data)
    return path


@pytest.fixture
def container() -> str:
    """A container name no other test uses, so tests need no cleanup between them."""
    return f"t-{uuid.uuid4().hex[:16]}"
