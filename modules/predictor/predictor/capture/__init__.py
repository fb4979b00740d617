"""Captured rows kept on the device until they are uploaded: a bounded queue of segment files that
a power cut cannot corrupt (docs/capture.md).

``capturer.Capturer`` takes the rows of the inference seam that ``triggers`` select by each
model's ``config`` (the twin's ``capture.<name>``). ``queue.CaptureQueue`` keeps them,
with ``segments.Segment`` (a closed segment, for the uploader) and ``stats`` (its counters and the
reasons for a drop); ``framing`` (one row as one checked line) serves them. The package imports
none of them.
"""

__all__ = ["capturer", "config", "framing", "queue", "segments", "stats", "triggers"]
