"""The Blob Storage SDK calls of a capture upload: one blob written unless it exists, as staged
blocks (one, or under a bandwidth cap one second's worth each) committed once by a Put Block List
with ``If-None-Match: *``. Failures are the SDK's; ``upload.py`` sorts them and tries again.

Never a single Put Blob: a segment cut off mid-upload (a kill, an outage) leaves uncommitted
blocks under its name, and Azurite answers a later Put Blob ``If-None-Match: *`` there with 409
BlobAlreadyExists, which reads as "delivered" and would lose the rows. A Put Block List's
condition is judged against the committed blob alone, and the commit drops the blocks it does
not list, so the staged leftovers never leak into the blob."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from predictor.capture.segment_blob import CONTENT_TYPE
from predictor.storage.errors import DownloadError

if TYPE_CHECKING:
    from azure.storage.blob.aio import BlobClient, ContainerClient

Sleep = Callable[[float], Awaitable[None]]


class BlobWriter:
    """Writes blobs into the container of one container SAS URL."""

    def __init__(
        self,
        url: str,
        timeout: float,
        bytes_per_second: int = 0,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.bytes_per_second = bytes_per_second  # 0: no cap
        self._sleep = sleep
        self._clock = clock
        self._next_send = 0.0  # when the bandwidth cap lets the next block go (clock)

    def container(self) -> ContainerClient:
        from azure.storage.blob.aio import ContainerClient

        return ContainerClient.from_container_url(
            self.url,
            # One retry layer only (ours, with its waits and logs).
            retry_total=0,
            connection_timeout=min(self.timeout, 20.0),
            read_timeout=self.timeout,
            permit_redirects=False,
        )

    async def put(self, blob: BlobClient, data: bytes) -> bool:
        """Write the blob unless it exists: True if written, False if it was already there."""
        from azure.core import MatchConditions
        from azure.core.exceptions import (
            HttpResponseError,
            ResourceExistsError,
            ResourceNotFoundError,
        )
        from azure.storage.blob import BlobBlock, ContentSettings

        settings = ContentSettings(content_type=CONTENT_TYPE, content_encoding=None)
        try:
            async with asyncio.timeout(self.timeout * 10):
                blocks = []
                for index, chunk in enumerate(_chunks(data, self.bytes_per_second or len(data))):
                    if self.bytes_per_second:
                        await self._wait_for_bandwidth(len(chunk))
                    block_id = base64.b64encode(f"{index:08d}".encode()).decode()
                    await blob.stage_block(block_id, chunk)
                    blocks.append(BlobBlock(block_id))
                # Staged blocks are not a blob until committed; the commit is the one write.
                await blob.commit_block_list(
                    blocks,
                    content_settings=settings,
                    match_condition=MatchConditions.IfMissing,  # If-None-Match: *
                )
                return True
        except ResourceExistsError:
            return False  # the SDK's word for 409 BlobAlreadyExists and 412 on If-None-Match
        except ResourceNotFoundError:
            raise DownloadError(
                "the capture container does not exist (404)", transient=False
            ) from None
        except HttpResponseError as exc:
            if exc.status_code == 412 or getattr(exc, "error_code", None) == "BlobAlreadyExists":
                return False
            raise

    async def _wait_for_bandwidth(self, size: int) -> None:
        now = self._clock()
        if self._next_send > now:
            await self._sleep(self._next_send - now)
        self._next_send = max(now, self._next_send) + size / self.bytes_per_second


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[start : start + size] for start in range(0, len(data), max(size, 1))]
