"""What a desired model entry of the twin becomes: a checked target, and an updater to apply it
(and a desired ``capture`` entry, whose container URL follows the same rules).

``model``, ``models`` and ``shadow`` all name targets under the same rules (the download
settings' allowed hosts, plain HTTP or not, the connection string's blob host), and each slot's
updater downloads through the one ``Downloader`` and checks signatures with the one public key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from predictor.capture import config as capture_config
from predictor.capture.config import CaptureConfig
from predictor.capture.upload import UploadPolicy
from predictor.models.manager import ModelManager
from predictor.settings import CaptureUploadSettings, DownloadSettings
from predictor.storage.download import Downloader, DownloadPolicy
from predictor.storage.target import ModelTarget, parse_target
from predictor.storage.updater import ModelUpdater, Report

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class TwinTargets:
    """Parses the twin's targets and makes the updater of each slot."""

    def __init__(self, download: DownloadSettings, public_key: Ed25519PublicKey | None) -> None:
        self.settings = download
        self.downloader = Downloader(DownloadPolicy.of(download))
        # With a connection string, model URLs may name its blob host only (docs/reliability.md).
        account = self.downloader.account
        self._storage_host = account.host if account else None
        self.public_key = public_key  # loaded once, by the app

    def capture_policy(self, upload: CaptureUploadSettings) -> UploadPolicy:
        """The capture uploader's policy: the model URLs' rules and retry waits (ValueError
        without the device's id)."""
        return UploadPolicy.of(upload, self.settings, storage_host=self._storage_host)

    def parse(self, value: Any) -> ModelTarget:
        """A desired entry as a target; TargetError if it breaks a rule."""
        return parse_target(
            value,
            allow_http=self.settings.allow_http_model_urls,
            allowed_hosts=self.settings.model_url_hosts,
            storage_host=self._storage_host,
        )

    def parse_capture(self, value: Any) -> CaptureConfig:
        """A desired ``capture.<name>``: its container URL follows the model URLs' rules."""
        return capture_config.parse(
            value,
            allow_http=self.settings.allow_http_model_urls,
            allowed_hosts=self.settings.model_url_hosts,
            storage_host=self._storage_host,
        )

    def updater(self, slot: ModelManager, report: Report) -> ModelUpdater:
        """The worker that applies targets to ``slot`` and reports through ``report``."""
        return ModelUpdater(slot, self.downloader, report, public_key=self.public_key)
