"""ONNX Runtime sessions as the trainer opens them: on the CPU, and quiet.

ONNX Runtime's C++ logger writes a failing node to stderr (``[E:onnxruntime:...]``) before the
Python exception is raised; the trainer says every failure in its one ``trainer: error:`` line
(refusals.py), so only fatal messages are let through.
"""

from __future__ import annotations

import onnxruntime as ort

# ONNX Runtime's severities: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal.
FATAL_ONLY = 4


def open_session(data: bytes) -> ort.InferenceSession:
    """A CPU session for the serialized model ``data`` that logs only fatal errors."""
    options = ort.SessionOptions()
    options.log_severity_level = FATAL_ONLY
    return ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
