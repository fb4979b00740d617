"""``python -m predictor``: serve the local HTTP API until SIGTERM, then exit 0."""

from __future__ import annotations

import logging
import sys

from predictor import logs
from predictor.app import create_app
from predictor.serve import AppFactory, run
from predictor.settings import SettingsError, load_settings

log = logging.getLogger("predictor")


def main(app_factory: AppFactory = create_app) -> int:
    logs.configure()
    try:
        settings = load_settings()
    except SettingsError as exc:
        log.error("invalid settings: %s", exc)
        return 2
    logs.configure(settings.process.log_level)
    log.info("predictor starting")
    status = run(settings, app_factory)
    log.info("predictor stopped")
    return status


if __name__ == "__main__":
    sys.exit(main())
