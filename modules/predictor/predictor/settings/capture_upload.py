"""Uploads of captured rows to Blob Storage: how fast, how long one try may stall, and when a
refused one is tried again."""

from typing import Annotated, ClassVar

import msgspec
from msgspec import Meta


class CaptureUploadSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The uploader of closed capture segments (``capture/upload.py``). Its URL rules and retry
    waits are the model downloads' (``PREDICTOR_ALLOW_HTTP_MODEL_URLS``,
    ``PREDICTOR_MODEL_URL_HOSTS``, ``PREDICTOR_DOWNLOAD_RETRY_MAX_SECONDS``)."""

    title: ClassVar[str] = "Capture upload"

    capture_upload_bytes_per_second: Annotated[
        int,
        Meta(
            ge=0,
            le=1024 * 1024 * 1024,
            description=(
                "Cap on the upload of captured rows, in (gzipped) bytes per second; 0: no cap. "
                "With a cap, a segment goes in blocks of about one second's worth, each sent "
                "when the cap allows, and committed at the end."
            ),
        ),
    ] = 0
    capture_upload_timeout: Annotated[
        float,
        Meta(
            gt=0,
            le=3600,
            description=(
                "Seconds one request of a capture upload may take; past it the try counts as "
                "storage unreachable and is tried again."
            ),
        ),
    ] = 60.0
    capture_refused_retry_seconds: Annotated[
        float,
        Meta(
            ge=1,
            le=86400,
            description=(
                "Seconds after which an upload that storage refused (403: an expired or wrong "
                "SAS, or a clock off; 404: no such container) is tried again with the same URL; "
                "the rows stay queued meanwhile, within `PREDICTOR_CAPTURE_MAX_BYTES`. A new URL "
                "in the twin is tried at once."
            ),
        ),
    ] = 600.0
