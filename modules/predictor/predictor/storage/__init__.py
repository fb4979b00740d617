"""Models from Blob Storage (or any HTTPS URL), the path that works without IoT Edge: targets,
pointers, the download and the follower of ``PREDICTOR_MODEL_URL``.

Nothing here loads the storage SDK at import: ``download.py`` and ``account.py`` load it on the
first request, so that the HTTP API answers first.
"""
