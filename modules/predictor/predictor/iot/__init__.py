"""The predictor as an IoT Edge module: the module twin, messages and direct methods.

Nothing here is imported by the HTTP path: the Azure SDKs load in the background after the HTTP
API already answers (they cost most of a second to import on a small device). So the package
imports none of its modules itself; ``__all__`` names the one other packages may import
(``lifecycle``, the app's entry to the IoT Edge side), which loads the rest in a worker thread.
"""

__all__ = ["lifecycle"]
