"""``PREDICTOR_CAPTURE``: each model's capture config where there is no twin (docs/capture.md).

The value is the twin's desired ``capture`` as one JSON object; each entry is checked by the same
``config.parse``, its container URL under the model URLs' rules (the download settings). The
settings loader calls ``configs`` to refuse a wrong value at start; ``without_edge.py`` applies it.
"""

from __future__ import annotations

from typing import Any

from predictor.capture import config as capture_config
from predictor.capture.config import CaptureConfig, CaptureConfigError


def configs(
    value: dict[str, dict[str, Any]],
    *,
    allow_http: bool,
    allowed_hosts: list[str],
    connection_string: str | None,
) -> dict[str, CaptureConfig]:
    """Each model's config; ``CaptureConfigError`` naming the model and what is wrong (never the
    SAS), or ``ValueError`` if the connection string the URL rules need is malformed."""
    if not value:
        return {}
    # Imported only when set: the registry brings ONNX Runtime, the account the storage SDK.
    from predictor.models.registry import ModelNameError, check_name
    from predictor.storage.account import StorageAccount

    account = StorageAccount.parse(connection_string) if connection_string else None
    parsed = {}
    for name, item in value.items():
        try:
            check_name(name)
        except ModelNameError as exc:
            raise CaptureConfigError(str(exc)) from None
        try:
            parsed[name] = capture_config.parse(
                item,
                allow_http=allow_http,
                allowed_hosts=allowed_hosts,
                storage_host=account.host if account else None,
            )
        except CaptureConfigError as exc:
            raise CaptureConfigError(f"{name}: {exc}") from None
    return parsed
