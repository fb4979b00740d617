"""The IoT Edge module that serves a contract-bearing ONNX classifier on the device.

Its packages: ``api`` (HTTP), ``iot`` (IoT Edge only), ``models`` (the models served),
``request`` (requests parsed, answers built) and ``storage`` (models from Blob Storage);
beside them the data plane (``dataplane.py``: every transport's one way into inference) and the
app that wires them (``app.py``).
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
