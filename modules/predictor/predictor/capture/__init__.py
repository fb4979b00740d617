"""Captured rows kept on the device until they are uploaded for retraining (docs/capture.md): a
bounded queue of segment files that a power cut cannot corrupt, and their way to Blob Storage.

``capturer.Capturer`` takes the rows of the inference seam that ``triggers`` select by each
model's ``config`` (the twin's ``capture.<name>``). ``queue.CaptureQueue`` keeps them, with
``segments.Segment`` (a closed segment, for the uploader), ``stats`` (its counters and the
reasons for a drop) and ``upload`` (a closed segment to Blob Storage); ``framing`` (one row as
one checked line) serves them. The package imports none of them.
"""

__all__ = [
    "capturer",
    "config",
    "framing",
    "from_settings",
    "queue",
    "segments",
    "stats",
    "triggers",
    "upload",
    "without_edge",
]
