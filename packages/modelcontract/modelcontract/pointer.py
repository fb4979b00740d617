"""The pointer blob ``<model-name>/latest.json``: the release that predictors without a twin follow.

``trainer publish --pointer`` writes it beside the model versions; a predictor given its URL
(``PREDICTOR_MODEL_URL``) reads it::

    {"blob": "iris-svm/1.2.0.onnx", "sha256": "<64 hex>", "version": "1.2.0", "signature": "..."}

``blob`` is a blob name in the pointer's own container; ``signature`` is there only when the
publisher signs. ``schemas/pointer.json`` is the same format as a JSON Schema.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_BLOB_NAME",
    "MAX_POINTER_BYTES",
    "POINTER_FILE",
    "PointerDocument",
    "PointerFormatError",
    "pointer_blob",
    "read_pointer",
]

POINTER_FILE = "latest.json"
# A pointer is a few hundred bytes; anything much larger is not one.
MAX_POINTER_BYTES = 4096
MAX_BLOB_NAME = 1024  # Azure's limit for a blob name


class PointerFormatError(ValueError):
    """The bytes are not a pointer document; the message says why."""


@dataclass(frozen=True)
class PointerDocument:
    """What a pointer names. ``sha256`` and ``version`` are checked by whoever acts on them
    (the device, as a twin's desired ``model``); here they are only carried."""

    blob: str
    sha256: Any
    version: Any
    signature: Any = None

    def to_json(self) -> dict[str, Any]:
        document = {"version": self.version, "sha256": self.sha256, "blob": self.blob}
        if self.signature is not None:
            document["signature"] = self.signature
        return document

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), sort_keys=True).encode()


def pointer_blob(name: str) -> str:
    """Where the pointer of model ``name`` lives in its container: ``<name>/latest.json``."""
    return f"{name}/{POINTER_FILE}"


def read_pointer(data: bytes) -> PointerDocument:
    """The document in ``data``; PointerFormatError (with the reason) if it is not a pointer."""
    if len(data) > MAX_POINTER_BYTES:
        raise PointerFormatError(f"the pointer is over {MAX_POINTER_BYTES} bytes")
    try:
        value: Any = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise PointerFormatError(f"the pointer is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise PointerFormatError("the pointer must be a JSON object with version, sha256 and blob")
    blob = value.get("blob")
    if not isinstance(blob, str) or not blob:
        raise PointerFormatError("the pointer lacks blob (the model's blob name in its container)")
    parts = blob.split("/")
    if (
        len(blob) > MAX_BLOB_NAME
        or blob.startswith("/")
        or any(part in ("", ".", "..") for part in parts)
        or any(ord(c) < 32 or c in "?#\\" for c in blob)
    ):
        raise PointerFormatError(f"the pointer's blob {blob[:80]!r} is not a plain blob name")
    return PointerDocument(
        blob=blob,
        sha256=value.get("sha256"),
        version=value.get("version"),
        signature=value.get("signature"),
    )
