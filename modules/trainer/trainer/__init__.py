"""Train a scikit-learn classifier, convert it to a contract-bearing ONNX model and publish it.

A classifier, regressor or outlier detector fitted elsewhere (a notebook) goes the same way with
``export_model`` and ``publish_model`` (see docs/bring-your-own-model.md).
"""

from __future__ import annotations

from trainer.byom import PublishedModel, export_model, publish_model
from trainer.device import DeviceCompatibilityError
from trainer.estimator import (
    ConversionError,
    ExportError,
    FeatureMismatchError,
    LabelMismatchError,
    NotAClassifierError,
)
from trainer.parity_report import ParityError
from trainer.refusals import UnsupportedModelError

__all__ = [
    "ConversionError",
    "DeviceCompatibilityError",
    "ExportError",
    "FeatureMismatchError",
    "LabelMismatchError",
    "NotAClassifierError",
    "ParityError",
    "PublishedModel",
    "UnsupportedModelError",
    "export_model",
    "publish_model",
]
