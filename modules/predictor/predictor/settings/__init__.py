"""The predictor's settings, in groups by concern, read from ``PREDICTOR_*`` variables.

One module per group; ``loader.py`` holds ``Settings`` (the groups) and reads the environment.
The app gives each component only its group (``app.py``).
"""

from predictor.settings.capture import CaptureSettings
from predictor.settings.capture_upload import CaptureUploadSettings
from predictor.settings.download import DownloadSettings
from predictor.settings.http_api import HttpSettings
from predictor.settings.inference import InferenceSettings
from predictor.settings.iot import EDGEHUB_MESSAGE_LIMIT, IotSettings
from predictor.settings.loader import (
    ENV_PREFIX,
    SettingInfo,
    Settings,
    SettingsError,
    group_titles,
    load_settings,
    setting_infos,
)
from predictor.settings.model_check import ModelCheckSettings
from predictor.settings.model_source import ModelSourceSettings
from predictor.settings.model_store import ModelStoreSettings
from predictor.settings.process import ProcessSettings
from predictor.settings.secret import Secret

__all__ = [
    "EDGEHUB_MESSAGE_LIMIT",
    "ENV_PREFIX",
    "CaptureSettings",
    "CaptureUploadSettings",
    "DownloadSettings",
    "HttpSettings",
    "InferenceSettings",
    "IotSettings",
    "ModelCheckSettings",
    "ModelSourceSettings",
    "ModelStoreSettings",
    "ProcessSettings",
    "Secret",
    "SettingInfo",
    "Settings",
    "SettingsError",
    "group_titles",
    "load_settings",
    "setting_infos",
]
