"""Captured rows kept on the device until they are uploaded for retraining (docs/capture.md): a
bounded queue of segment files that a power cut cannot corrupt, and their way to Blob Storage.

``capturer.Capturer`` takes the rows of the inference seam that ``triggers`` select by each
model's ``config`` (the twin's ``capture.<name>``). ``queue.CaptureQueue`` keeps them, with
``segments.Segment`` (a closed segment, for the uploader) and ``stats`` (its counters and the
reasons for a drop). ``shipper`` (the module's task) splits closed segments by model and hands
each part to ``upload`` (one blob to Blob Storage, tried until storage confirms it);
``segment_blob`` is what the uploader needs of a segment (its blob name and bytes); ``framing``
(one row as one checked line) and ``blob_writer`` (the storage SDK's calls) serve them. The
package imports none of them.
"""

__all__ = [
    "capturer",
    "config",
    "framing",
    "from_settings",
    "queue",
    "segment_blob",
    "segments",
    "shipper",
    "stats",
    "triggers",
    "upload",
    "without_edge",
]
