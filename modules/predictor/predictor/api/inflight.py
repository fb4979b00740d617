"""Count running requests, so that SIGTERM can wait for them before connections close.

aiohttp's own shutdown stops reading from open connections first, so a request whose body
is still arriving would be dropped; waiting here while the listener alone is closed lets it
finish.
"""

from __future__ import annotations

import asyncio


class InFlight:
    """The number of requests being handled, and a way to wait until there are none."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def started(self) -> None:
        self.count += 1
        self._idle.clear()

    def finished(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no request is running."""
        await self._idle.wait()
