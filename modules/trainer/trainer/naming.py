"""Model names, versions and the blob name they make: checked before anything is trained."""

from __future__ import annotations

import re
from datetime import UTC, datetime

DEFAULT_NAME = "iris-svm"

# Safe in a blob name, a URL path, a file name and an IoT Edge deployment id (after '.' -> '-').
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_VERSION = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?$")


def default_version(now: datetime | None = None) -> str:
    """A UTC timestamp such as ``20261125.175209``: sorts in time order, unique per second."""
    return (now or datetime.now(UTC)).strftime("%Y%m%d.%H%M%S")


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(
            f"model name {name!r} must be 1-64 lowercase letters, digits or '-', "
            "starting and ending with a letter or digit"
        )
    return name


def check_version(version: str) -> str:
    if not _VERSION.match(version):
        raise ValueError(
            f"version {version!r} must be 1-64 letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return version


def blob_name(name: str, version: str) -> str:
    """Where a model version lives in its container: ``<name>/<version>.onnx``."""
    return f"{check_name(name)}/{check_version(version)}.onnx"
