"""The metadata of a model blob: what ``trainer publish`` writes and a device reads.

A model blob ``<name>/<version>.onnx`` carries its sha256 and version in its blob metadata, so
that a device given the blob's URL alone (``PREDICTOR_MODEL_URL``) knows what it must be.
"""

from __future__ import annotations

__all__ = ["MODEL_NAME_KEY", "SHA256_KEY", "VERSION_KEY", "blob_metadata"]

SHA256_KEY = "sha256"
VERSION_KEY = "version"
MODEL_NAME_KEY = "model_name"


def blob_metadata(sha256: str, version: str, model_name: str) -> dict[str, str]:
    """The metadata a model blob is uploaded with."""
    return {SHA256_KEY: sha256, VERSION_KEY: version, MODEL_NAME_KEY: model_name}
