"""Local stand-ins for Azure services, used by the tests and the demo (never shipped)."""
