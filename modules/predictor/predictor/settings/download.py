"""Model downloads: which URLs are taken, with which credentials, and how they are retried."""

from typing import Annotated, ClassVar

import msgspec
from msgspec import Meta

from predictor.settings.secret import Secret


class DownloadSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Every model download, the twin's and ``PREDICTOR_MODEL_URL``'s (``iot/download.py``)."""

    title: ClassVar[str] = "Model downloads"

    allow_http_model_urls: Annotated[
        bool, Meta(description="Accept plain http:// model URLs (for local use with Azurite only).")
    ] = False
    model_url_hosts: Annotated[
        list[str],
        Meta(
            description=(
                "If set, model URLs must name one of these hosts (e.g. your storage account's "
                "blob host); a JSON list."
            )
        ),
    ] = msgspec.field(default_factory=list)
    storage_connection_string: Annotated[
        Secret | None,
        Meta(
            description=(
                "Storage account connection string. If set, model URLs must name its blob host, "
                "and its key signs only URLs without a SAS under its own blob endpoint. Prefer "
                "SAS URLs: then the device holds no account key."
            )
        ),
    ] = None
    max_model_bytes: Annotated[
        int,
        Meta(
            ge=1024,
            description=(
                "Largest model file downloaded, in bytes; counted as the bytes arrive, whatever "
                "the storage says the size is."
            ),
        ),
    ] = 50 * 1024 * 1024
    download_attempts: Annotated[
        int,
        Meta(
            ge=1,
            le=20,
            description=(
                "Tries in one round of a model download, PREDICTOR_DOWNLOAD_BACKOFF_SECONDS apart "
                "(doubling). A round that fails for a reason another try may fix is reported "
                "`retrying`, and another round follows (PREDICTOR_DOWNLOAD_RETRY_MAX_SECONDS)."
            ),
        ),
    ] = 4
    download_backoff_seconds: Annotated[
        float,
        Meta(
            ge=0,
            le=300,
            description="First wait between download tries; it doubles after each failed try.",
        ),
    ] = 1.0
    download_retry_max_seconds: Annotated[
        float,
        Meta(
            ge=1,
            le=86400,
            description=(
                "Longest wait between two rounds of a download that failed for a reason another "
                "try may fix (storage unreachable, a timeout, 408, 429, 5xx): a random wait up "
                "to 1, 2, 4... s, capped here, and never shorter than storage's Retry-After "
                "(itself capped here). Rounds go on while the desired model stands."
            ),
        ),
    ] = 300.0
    update_spread_seconds: Annotated[
        float,
        Meta(
            ge=0,
            le=86400,
            description=(
                "Longest random wait before the first download of a newly desired model, so "
                "that a fleet does not hit its storage account at once (docs/reliability.md "
                "suggests a value per fleet size); the desired `model`'s own `spread` wins for "
                "one roll-out. Random per device, seeded from its identity."
            ),
        ),
    ] = 0.0
    download_timeout: Annotated[
        float,
        Meta(gt=0, description="Seconds without progress before a model download is abandoned."),
    ] = 60.0
