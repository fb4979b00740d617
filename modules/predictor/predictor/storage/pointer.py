"""A pointer blob (its format: ``modelcontract.pointer``), read as the model a release points at.

``blob`` is a blob name in the pointer's own container. The model's URL is the pointer's URL
with the blob path swapped and the query kept, so one container-level read SAS serves both, and
a plain URL stays under the connection string's endpoint. The target it makes passes the same
checks as a twin's desired ``model`` (``target.parse_target``).
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

from modelcontract.pointer import MAX_POINTER_BYTES, PointerFormatError, read_pointer
from predictor.storage.target import ModelTarget, TargetError, parse_target

__all__ = [
    "MAX_POINTER_BYTES",
    "PointerError",
    "is_pointer",
    "model_url",
    "parse_pointer",
]

_SUFFIX = ".json"


class PointerError(TargetError):
    """The pointer blob cannot be acted on; the message says why."""


def is_pointer(url: str) -> bool:
    """True when ``url`` names a pointer (its path ends in ``.json``), not a model."""
    return urlsplit(url).path.lower().endswith(_SUFFIX)


def model_url(pointer_url: str, blob: str) -> str:
    """The URL of ``blob`` in the pointer's container, with the pointer URL's query (its SAS).

    The storage SDK tells the container from the blob name (``/<container>/<blob>``, or
    ``/<account>/<container>/<blob>`` on an IP host such as Azurite), as it would to read it.
    """
    from azure.storage.blob import BlobClient  # the SDK's own URL rules (loaded by then)

    try:
        own = BlobClient.from_blob_url(pointer_url).blob_name
    except ValueError as exc:
        raise PointerError(f"the pointer URL names no blob: {exc}") from None
    parts = urlsplit(pointer_url)
    segments = parts.path.split("/")
    depth = own.count("/") + 1
    if len(segments) <= depth + 1:
        raise PointerError("the pointer URL names no container")
    path = "/".join(segments[:-depth]) + "/" + quote(blob, safe="/")
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def parse_pointer(
    data: bytes,
    pointer_url: str,
    *,
    allow_http: bool = False,
    allowed_hosts: list[str] | None = None,
    storage_host: str | None = None,
) -> ModelTarget:
    """The target the pointer ``data`` names; PointerError (with the reason) otherwise."""
    try:
        document = read_pointer(data)
    except PointerFormatError as exc:
        raise PointerError(str(exc)) from None
    desired = {**document.to_json(), "url": model_url(pointer_url, document.blob)}
    try:
        return parse_target(
            desired,
            allow_http=allow_http,
            allowed_hosts=allowed_hosts,
            storage_host=storage_host,
        )
    except TargetError as exc:
        # The twin's wording names the desired property; here it is the pointer's document.
        reason = str(exc).replace("desired property 'model'", "the pointer")
        raise PointerError(reason.replace("desired 'model'", "the pointer's")) from None
