"""A send's first try, made before the retry loop, ends exactly as the same try inside the loop.

Sending through edgeHub's emulator, link cuts included, is tested in tests/reliability; here a
stand-in link decides how each try ends, so that the first try and a later one meet the same
ending and can be compared.
"""

from __future__ import annotations

from typing import cast

import pytest
from azure.iot.device import Message

from predictor.iot import wire
from predictor.iot.link import EdgeLink
from predictor.iot.sender import OutputSender
from predictor.iot.wire import Outgoing

OUT = Outgoing(b'{"label":"setosa"}', "predictions", "m-1", {"site": "greenhouse-3"})


class Link:
    """Stands in for the link: each try ends as ``endings`` says, in turn (None: acknowledged)."""

    def __init__(self, *endings: Exception | None) -> None:
        self.endings = list(endings)
        self.tries: list[tuple[Message, str]] = []
        self.acknowledged: list[tuple[bytes, str, str | None, dict[str, str], str]] = []

    async def send_to_output(self, message: Message, output: str) -> None:
        self.tries.append((message, output))
        ending = self.endings.pop(0)
        if ending is not None:
            raise ending
        properties = dict(message.custom_properties)
        self.acknowledged.append(
            (message.data, output, message.correlation_id, properties, message.message_id)
        )


async def send(link: Link) -> Exception | None:
    try:
        await OutputSender(cast(EdgeLink, link)).send(OUT)
    except Exception as exc:
        return exc
    return None


async def test_acknowledged_at_the_first_try_or_after_a_failure_the_same_message_goes() -> None:
    first = Link(None)
    later = Link(ConnectionError("link down"), None)
    assert await send(first) is None
    assert await send(later) is None
    assert len(first.tries) == 1
    assert len(later.tries) == 2
    assert first.acknowledged == later.acknowledged
    assert first.acknowledged == [
        (OUT.body, "predictions", "m-1", {"site": "greenhouse-3"}, OUT.message_id)
    ]


@pytest.mark.parametrize(
    "refusal",
    [ValueError("Size of message can not exceed 256 KB."), TypeError("not a string")],
)
async def test_a_message_refused_for_itself_is_given_up_at_any_try(refusal: Exception) -> None:
    first = Link(refusal)
    later = Link(ConnectionError("link down"), refusal)
    at_first, at_later = await send(first), await send(later)
    assert isinstance(at_first, wire.UnsendableError)
    assert isinstance(at_later, wire.UnsendableError)
    assert str(at_first) == str(at_later) == str(refusal)
    assert (len(first.tries), len(later.tries)) == (1, 2)  # no try after the refusal
