"""Ed25519 model signatures: a key pair for the publisher, a signature for each model.

The signature is over the model file's bytes (not over its sha256), base64-encoded; the
predictor verifies it with the public key it was configured with. See docs/reliability.md.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from trainer.errors import UsageError

PRIVATE_FILE = "model-signing.key"
PUBLIC_FILE = "model-signing.pub"


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path
    public_base64: str  # the value for PREDICTOR_MODEL_PUBLIC_KEY


def generate(directory: Path) -> KeyPair:
    """Write a new key pair into ``directory``; never overwrites an existing key."""
    directory.mkdir(parents=True, exist_ok=True)
    private_path, public_path = directory / PRIVATE_FILE, directory / PUBLIC_FILE
    for path in (private_path, public_path):
        if path.exists():
            raise UsageError(f"{path} exists; move it away first (a key is never overwritten)")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Created with 0600 from the start: the private key is never readable by others.
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
    public = key.public_key()
    public_path.write_bytes(
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KeyPair(private_path, public_path, base64.b64encode(raw).decode())


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in PEM file ``path``; UsageError with the reason otherwise."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the signing key {path}: {exc.strerror or exc}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise UsageError(
            f"the signing key {path} is not an unencrypted PEM private key: {exc}"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"the signing key {path} is not an Ed25519 key")
    return key


def sign(data: bytes, key: Ed25519PrivateKey) -> str:
    """The base64 Ed25519 signature of the model bytes ``data``."""
    return base64.b64encode(key.sign(data)).decode()
