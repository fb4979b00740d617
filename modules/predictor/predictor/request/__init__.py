"""The transport-neutral request layer: decoded JSON in, validated rows; a prediction out.

``floats`` serves models over one float tensor, ``columns`` models with one typed input per
column, ``values`` the checks both share. ``__all__`` names the modules other packages may
import; the package imports none of them itself.
"""

__all__ = ["columns", "floats", "values"]
