"""The desired model a module twin names: parsed, checked against the URL policy, redacted."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
MAX_SPREAD_SECONDS = 86400.0


class TargetError(ValueError):
    """The desired ``model`` property cannot be acted on; the message says why."""


@dataclass(frozen=True)
class ModelTarget:
    """A model the twin asks for: where to get it and what it must be."""

    url: str
    sha256: str
    version: str
    signature: str | None = None  # base64 Ed25519 over the model bytes (see models/signature.py)
    # Longest random wait before the first download, for this roll-out (None: the module's
    # PREDICTOR_UPDATE_SPREAD_SECONDS). Not part of what is asked for: a patch that changes
    # only the spread does not start the update again.
    spread: float | None = field(default=None, compare=False)
    # ``inputRange``: "on"/"off" (True/False) overrides PREDICTOR_INPUT_RANGE_CHECK for this
    # model; None leaves the setting. Not part of what is asked for either: no new download.
    input_range: bool | None = field(default=None, compare=False)

    @property
    def safe_url(self) -> str:
        """The URL without its query string: a SAS token never reaches logs or the twin."""
        return redact(self.url)


def redact(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def parse_target(
    value: Any,
    *,
    allow_http: bool = False,
    allowed_hosts: list[str] | None = None,
    storage_host: str | None = None,
) -> ModelTarget:
    """Check the desired ``model`` value: ``{"url": ..., "sha256": ..., "version": ...}``.

    ``storage_host`` is the blob host of the configured connection string, if any: then no
    other host is taken.
    """
    if not isinstance(value, dict):
        raise TargetError("desired property 'model' must be an object with url, sha256, version")
    missing = [key for key in ("url", "sha256", "version") if not value.get(key)]
    if missing:
        raise TargetError(f"desired property 'model' lacks {', '.join(missing)}")
    url, sha256, version = value["url"], value["sha256"], value["version"]
    if not all(isinstance(item, str) for item in (url, sha256, version)):
        raise TargetError("desired 'model' url, sha256 and version must be strings")
    sha256 = sha256.lower()
    if not _SHA256.match(sha256):
        raise TargetError("desired 'model' sha256 must be 64 hexadecimal digits")
    if not _VERSION.match(version):
        raise TargetError(f"desired 'model' version {version[:40]!r} is not a valid version")
    signature = value.get("signature")
    if signature is not None and not (isinstance(signature, str) and len(signature) <= 200):
        raise TargetError("desired 'model' signature must be a base64 string")
    spread = value.get("spread")
    if spread is not None and not (
        isinstance(spread, int | float)
        and not isinstance(spread, bool)
        and 0 <= spread <= MAX_SPREAD_SECONDS
    ):
        raise TargetError(
            f"desired 'model' spread must be a number of seconds from 0 to {MAX_SPREAD_SECONDS:g}"
        )
    input_range = value.get("inputRange")
    if input_range not in (None, "on", "off"):
        raise TargetError('desired \'model\' inputRange must be "on" or "off"')
    check_url(
        url, allow_http=allow_http, allowed_hosts=allowed_hosts or [], storage_host=storage_host
    )
    return ModelTarget(
        url=url,
        sha256=sha256,
        version=version,
        signature=signature or None,
        spread=None if spread is None else float(spread),
        input_range=None if input_range is None else input_range == "on",
    )


def check_url(
    url: str,
    *,
    allow_http: bool,
    allowed_hosts: list[str],
    storage_host: str | None = None,
    what: str = "model URL",
) -> None:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise TargetError(f"the {what} is malformed: {exc}") from exc
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        allowed = " or ".join(schemes)
        raise TargetError(f"the {what} must be {allowed}, not {parts.scheme or 'no scheme'}")
    if not host:
        raise TargetError(f"the {what} has no host")
    if allowed_hosts and host.lower() not in {h.lower() for h in allowed_hosts}:
        raise TargetError(f"the {what}'s host {host} is not in PREDICTOR_MODEL_URL_HOSTS")
    if storage_host is not None and host.lower() != storage_host.lower():
        raise TargetError(
            f"the {what}'s host {host} is not the storage account's blob host "
            f"{storage_host} (PREDICTOR_STORAGE_CONNECTION_STRING is set)"
        )
