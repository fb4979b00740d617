"""Model signatures: a model is taken only if signed by the holder of the configured key.

The twin names a model and its ``signature`` (base64 Ed25519 over the model file's bytes). A
twin or storage writer without the private key can neither forge one nor reuse one for other
bytes. See docs/reliability.md.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

_RAW_KEY_BYTES = 32


class SignatureError(Exception):
    """The model's signature is missing or does not verify; the message says why."""


def load_public_key(text: str) -> Ed25519PublicKey:
    """A PEM public key, or base64 of its 32 raw bytes or of its DER; ValueError otherwise."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            raw = base64.b64decode(text, validate=True)
            if len(raw) == _RAW_KEY_BYTES:
                return Ed25519PublicKey.from_public_bytes(raw)
            key = serialization.load_der_public_key(raw)
    except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm) as exc:
        raise ValueError(
            "not an Ed25519 public key (PEM, or base64 of the raw 32 bytes or of DER)"
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the public key is not an Ed25519 key")
    return key


def verify(key: Ed25519PublicKey, data: bytes, signature: str | None) -> None:
    """Check ``signature`` over ``data``; SignatureError with the reason otherwise."""
    if not signature:
        raise SignatureError(
            "the model is not signed and PREDICTOR_MODEL_PUBLIC_KEY requires a signature"
        )
    try:
        raw = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise SignatureError("the model's signature is not base64") from exc
    try:
        key.verify(raw, data)
    except InvalidSignature as exc:
        raise SignatureError(
            "the model's signature does not verify with PREDICTOR_MODEL_PUBLIC_KEY"
        ) from exc
