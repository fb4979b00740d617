"""The predictor as an IoT Edge module: twin-driven model updates, messages and direct methods.

Nothing here is imported by the HTTP path: the Azure SDKs load in the background after the HTTP
API already answers (they cost most of a second to import on a small device).
"""
