"""Captured rows kept on the device until they are uploaded: a bounded queue of segment files that
a power cut cannot corrupt (docs/capture.md).

``queue.CaptureQueue`` is what other packages use, with ``segments.Segment`` (a closed segment,
for the uploader) and ``stats`` (its counters and the reasons for a drop); ``framing`` (one row as
one checked line) serves them. The package imports none of them.
"""

__all__ = ["framing", "queue", "segments", "stats"]
