"""``python -m predictor``: serve the local HTTP API until SIGTERM, then exit 0."""

from __future__ import annotations

import logging
import sys

from pydantic import ValidationError

from predictor import logs
from predictor.app import create_app
from predictor.serve import AppFactory, run
from predictor.settings import Settings

log = logging.getLogger("predictor")


def main(app_factory: AppFactory = create_app) -> int:
    logs.configure()
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"PREDICTOR_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        log.error("invalid settings: %s", problems)
        return 2
    logs.configure(settings.log_level)
    log.info("predictor starting")
    status = run(settings, app_factory)
    log.info("predictor stopped")
    return status


if __name__ == "__main__":
    sys.exit(main())
