"""Tooling that never ships in an image: local stand-ins for Azure services (Azurite, an edgeHub
emulator) used by the tests and the demo, and the deployment manifest generator."""
