"""The capture URL's SAS, as far as the device can judge it from the URL: there must be one (the
uploader never signs with an account key), and it must grant writing only. A device whose SAS
could read, list or delete could read or erase what every other device sent, so a wider one is
refused before any request (docs/capture.md, "Upload"). The messages never hold the signature.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from predictor.storage.target import redact

# Add (append blobs), create, write: enough to put a blob, nothing to see one.
WRITE_ONLY = frozenset("acw")
_GRANTS = {
    "r": "read",
    "l": "list",
    "d": "delete",
    "x": "delete versions",
    "y": "delete permanently",
    "t": "tags",
    "f": "find by tags",
    "m": "move",
    "e": "execute",
    "o": "ownership",
    "p": "permissions",
    "i": "immutability policies",
}


def check_write_only(url: str) -> None:
    """ValueError when ``url`` carries no SAS, or one whose ``sp`` grants more than ``acw``. A
    SAS of a stored access policy (``si=`` without ``sp``) keeps its permissions in the policy,
    out of the device's sight: it is taken as it is."""
    query = parse_qs(urlsplit(url).query)
    if "sig" not in query:
        raise ValueError(f"the capture URL {redact(url)} carries no SAS")
    # Lower case: a letter storage might take either way is judged, not let through.
    permissions = "".join(query.get("sp", [])).lower()
    extra = sorted(set(permissions) - WRITE_ONLY)
    if extra:
        grants = ", ".join(f"{letter} ({_GRANTS.get(letter, 'unknown')})" for letter in extra[:8])
        raise ValueError(
            f"the capture URL {redact(url)} has a SAS that grants more than writing "
            f"(sp={permissions[:20]}: {grants}); a device must not read, list or delete what "
            "devices sent: give it one with sp=cw"
        )
