"""The local HTTP API: the module's own routes, the Open Inference Protocol (v2) and metrics."""
