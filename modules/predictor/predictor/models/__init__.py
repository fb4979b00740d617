"""The models a device serves: loaded, checked, cached, refused and swapped.

``__all__`` names the modules other packages may import; ``refusals`` and ``startup`` are the
manager's own. The package imports none of them itself: ``check`` runs as the model check's
child process (``python -m predictor.models.check``), which must not load the rest.
"""

__all__ = [
    "batch",
    "cache",
    "check",
    "contract",
    "events",
    "manager",
    "registry",
    "runtime",
    "signature",
]
