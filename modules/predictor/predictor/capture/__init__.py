"""Captured rows kept on the device until they are uploaded for retraining (docs/capture.md): a
bounded queue of segment files that a power cut cannot corrupt, and their way to Blob Storage.

``queue.CaptureQueue`` is what other packages use, with ``segments.Segment`` (a closed segment,
for the uploader), ``stats`` (its counters and the reasons for a drop) and ``upload`` (a closed
segment to Blob Storage); ``framing`` (one row as one checked line) serves them. The package
imports none of them.
"""

__all__ = ["framing", "queue", "segments", "stats", "upload"]
