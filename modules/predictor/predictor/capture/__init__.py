"""Rows captured on the device for retraining, and their way to Blob Storage (docs/capture.md).
``__all__`` names the modules other packages may import."""

__all__ = ["upload"]
