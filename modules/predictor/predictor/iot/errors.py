"""Errors of the IoT side that the model updater needs without loading the Azure SDKs."""

from __future__ import annotations


class DownloadError(Exception):
    """A model could not be downloaded; ``transient`` failures are worth another try."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient
