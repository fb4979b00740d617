"""The IoT Edge module that serves a contract-bearing ONNX classifier on the device."""

__version__ = "0.1.0"
