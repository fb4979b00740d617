"""Errors of the IoT side that the model updater needs without loading the Azure SDKs."""

from __future__ import annotations


class DownloadError(Exception):
    """A model could not be downloaded; ``transient`` failures are worth another try, after
    ``retry_after`` seconds at least when storage said so (429, 503)."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after
