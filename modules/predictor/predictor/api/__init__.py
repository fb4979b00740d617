"""The local HTTP API: the module's own routes, the Open Inference Protocol (v2) and metrics.

``__all__`` names the modules other packages may import (the app wires these); the others are
this package's own. The package imports none of them itself.
"""

__all__ = ["errors", "inflight", "local", "state", "v2"]
