"""The storage SDK as the downloader uses it: loaded on first use, its errors mapped, and every
answer it is about to read bounded from its headers.

The SDK (azure-storage-blob, its aiohttp transport and azure-core: ~16 MB and ~70 ms of CPU) is
imported by the first request, in a worker thread so that the event loop keeps serving: a module
whose models are all cached or bundled never loads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from predictor.storage.errors import DownloadError

if TYPE_CHECKING:
    from azure.core.pipeline import PipelineResponse

_RANGE = re.compile(r"^bytes=(\d+)-(\d+)$")
STORAGE_SDK = "azure.storage.blob.aio"
_sdk_loaded = False


async def load_storage_sdk() -> None:
    """Imports the storage SDK in a worker thread, the first time."""
    global _sdk_loaded
    # Not ``in sys.modules``: a module is there from the start of its import, and a second
    # download would then wait for the first one's import on the event loop.
    if not _sdk_loaded:
        await asyncio.to_thread(importlib.import_module, STORAGE_SDK)
        _sdk_loaded = True


@contextlib.contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Turns what the storage SDK and the network raise into DownloadError, transient or not, by
    the one table (``download_errors.MESSAGES``): the one mapping for the model and the pointer
    reads."""
    try:
        yield
    except Exception as exc:
        # The table imports azure.core's exceptions: loaded by then (load_storage_sdk).
        from predictor.storage.download_errors import as_download_error

        error = as_download_error(exc, what)
        if error is exc:  # our own check's DownloadError: it already says what went wrong
            raise
        raise error from exc


class ReadBound:
    """Refuses, from its headers alone, an answer whose body could exceed what was asked for.

    The SDK calls it (``raw_response_hook``) before it reads a body, and then reads that body
    whole into memory: so a body must announce its length, no more than the range asked for
    and no more than ``max_bytes``, and must not be compressed (a small body can inflate to any
    size). aiohttp reads no more than the announced length.
    """

    def __init__(self, max_bytes: int, what: str = "the model") -> None:
        self.max_bytes = max_bytes
        self.what = what  # for the messages: "the model", "the pointer"

    def __call__(self, response: PipelineResponse[Any, Any]) -> None:
        request, answer = response.http_request, response.http_response
        if request.method != "GET" or not 200 <= answer.status_code < 300:
            return  # a HEAD has no body; an error's body is the SDK's to read (and small)
        encoding = answer.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise DownloadError(
                f"storage sent {self.what} with Content-Encoding {encoding[:40]}; blobs "
                "must be stored unencoded",
                transient=False,
            )
        length = answer.headers.get("Content-Length", "")
        if not length.isdigit():
            raise DownloadError(
                f"storage sent no Content-Length for {self.what}: its size cannot be bounded",
                transient=False,
            )
        if int(length) > self.max_bytes:
            limit = " (PREDICTOR_MAX_MODEL_BYTES)" if self.what == "the model" else ""
            raise DownloadError(
                f"{self.what} is over the limit of {self.max_bytes} bytes{limit}: "
                f"storage sends {length} bytes",
                transient=False,
            )
        asked = _range_length(request.headers.get("x-ms-range") or request.headers.get("Range"))
        if asked is not None and int(length) > asked:
            raise DownloadError(
                f"storage answered a request for {asked} bytes with {length}", transient=False
            )


def _range_length(value: str | None) -> int | None:
    match = _RANGE.match(value.strip()) if value else None
    return int(match[2]) - int(match[1]) + 1 if match else None
