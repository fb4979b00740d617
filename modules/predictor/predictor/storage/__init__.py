"""Models from Blob Storage (or any HTTPS URL), the path that works without IoT Edge: targets,
pointers, the download, the updater, and the follower of ``PREDICTOR_MODEL_URL``.

Nothing here loads the storage SDK at import: ``sdk.py`` loads it on the first request, so that
the HTTP API answers first. ``__all__`` names the modules other packages may import (``source``
for the app, the rest for the IoT Edge side's twin targets, and ``errors``, ``identity``,
``pacing``, ``sdk`` and ``target`` for the capture uploader, which follows the same rules); the
package imports none of them.
"""

__all__ = [
    "account",
    "download",
    "errors",
    "identity",
    "pacing",
    "sdk",
    "source",
    "target",
    "update_state",
    "updater",
]
