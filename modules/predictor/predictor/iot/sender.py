"""Sending a message to an output until edgeHub acknowledges it."""

from __future__ import annotations

import logging

from azure.iot.device import Message
from tenacity import AsyncRetrying, retry_if_not_exception_type, stop_never, wait_exponential

from predictor.iot import wire
from predictor.iot.link import EdgeLink, describe
from predictor.iot.wire import Outgoing

log = logging.getLogger(__name__)


class OutputSender:
    """Sends outputs over the module's link, again after every failure of the link."""

    def __init__(self, link: EdgeLink) -> None:
        self.link = link

    async def send(self, out: Outgoing) -> None:
        """Send until edgeHub acknowledges it: an answer is never dropped on a broken link.

        At least once: an output sent on a link that then broke is sent again on the next one,
        so edgeHub may get it twice (same message id and correlation id). A message that the
        SDK refuses for itself (too large, say) is never tried again: ``UnsendableError``.
        """
        message = wire.to_message(out)
        wire.check_sendable(message)
        try:
            # Most sends succeed at once; the retry machinery costs ~30 us a message, so it
            # starts only after a failure (BENCHMARKS.md, the message path).
            await self._send_once(message, out.output)
            return
        except wire.UnsendableError:
            raise
        except Exception as exc:
            log.warning("sending to output %s failed (%s); trying again", out.output, describe(exc))
        async for attempt in AsyncRetrying(
            retry=retry_if_not_exception_type(wire.UnsendableError),
            wait=wait_exponential(multiplier=0.5, max=10),
            stop=stop_never,
            before_sleep=lambda state: log.warning(
                "sending to output %s failed (%s); trying again",
                out.output,
                describe(state.outcome.exception() if state.outcome else None),
            ),
            reraise=True,
        ):
            with attempt:
                await self._send_once(message, out.output)

    async def _send_once(self, message: Message, output: str) -> None:
        try:
            await self.link.send_to_output(message, output)
        except Exception as exc:
            if wire.is_unsendable(exc):
                raise wire.UnsendableError(describe(exc)) from exc
            raise
