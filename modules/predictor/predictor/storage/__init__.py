"""Models from Blob Storage (or any HTTPS URL), the path that works without IoT Edge: targets,
pointers, the download, the updater, and the follower of ``PREDICTOR_MODEL_URL``.

Nothing here loads the storage SDK at import: ``sdk.py`` loads it on the first request, so that
the HTTP API answers first. ``__all__`` names the modules other packages may import (``source``
for the app, ``identity`` for capture, the rest for the IoT Edge side's twin targets); the package
imports none of them.
"""

__all__ = ["download", "identity", "source", "target", "update_state", "updater"]
