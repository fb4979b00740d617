"""The shipper's own logic over a real capture queue (real segment files), with a fake deliverer
in place of Blob Storage: the split by model, confirmation only when every part is delivered,
rows kept for a model without a URL, a URL storage refused retried after a while or once it
changes, one the uploader's rules refuse only once it changes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from predictor.capture.queue import CaptureQueue
from predictor.capture.shipper import Deliverer, Shipper, segment_day
from predictor.capture.upload import ClosedSegment, UploadError, UploadStats
from predictor.settings import CaptureSettings

SETTINGS = CaptureSettings(
    capture_max_bytes=1 << 20, capture_segment_bytes=1 << 18, capture_segment_seconds=3600
)


class FakeStorage:
    """Blobs by (url, model, segment name); ``refuse`` makes a URL answer a final refusal."""

    def __init__(self) -> None:
        self.blobs: dict[tuple[str, str, str], list[dict[str, object]]] = {}
        self.tries: list[tuple[str, str, str]] = []
        self.refuse: set[str] = set()
        self.unreachable: set[str] = set()  # tried for ever, as the uploader does while offline

    def make(self, url: str, stats: UploadStats) -> Deliverer:
        storage = self

        class Fake:
            async def deliver(
                self, segment: ClosedSegment, confirm: Callable[[ClosedSegment], object]
            ) -> None:
                key = (url, segment.model, segment.name)
                storage.tries.append(key)
                if url in storage.unreachable:
                    await asyncio.Event().wait()  # until cancelled
                if url in storage.refuse:
                    stats.failures += 1
                    stats.last_error = "refused (403)"
                    raise UploadError("refused (403)", transient=False)
                storage.blobs[key] = [json.loads(row) for row in segment.rows()]
                stats.rows += len(storage.blobs[key])
                stats.last_error = None
                confirm(segment)

        return Fake()


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[CaptureQueue]:
    queue = CaptureQueue(tmp_path / "capture", SETTINGS)
    queue.start()
    yield queue
    queue.close(5)


def segment_of(queue: CaptureQueue, rows: list[dict[str, object]]) -> None:
    """Write ``rows`` and close their segment (a restart closes the open one)."""
    for row in rows:
        assert queue.offer(row)
    assert queue.flush(5)
    queue._close_open()  # the writer is idle after flush: closing now is what age would do


def row(model: str, n: int) -> dict[str, object]:
    return {"model": model, "n": n, "inputs": {"x": n}}


async def test_a_segment_of_two_models_goes_as_one_blob_each_then_is_confirmed(
    queue: CaptureQueue,
) -> None:
    storage = FakeStorage()
    urls = {"a": "https://acct/a?sig=1", "b": "https://acct/b?sig=2"}
    segment_of(queue, [row("a", 1), row("b", 2), row("a", 3)])
    (segment,) = queue.closed()
    shipper = Shipper(queue, urls.get, storage.make)

    assert await shipper.ship_once() == 1

    assert storage.blobs == {
        (urls["a"], "a", segment.name): [row("a", 1), row("a", 3)],
        (urls["b"], "b", segment.name): [row("b", 2)],
    }
    assert queue.closed() == []
    assert queue.stats().uploaded_rows == 3
    assert shipper.stats["a"].rows == 2 and shipper.stats["b"].rows == 1


async def test_segments_go_oldest_first(queue: CaptureQueue) -> None:
    storage = FakeStorage()
    for n in range(3):
        segment_of(queue, [row("a", n)])
    names = [s.name for s in queue.closed()]
    await Shipper(queue, {"a": "https://acct/a?sig=1"}.get, storage.make).ship_once()
    assert [name for _, _, name in storage.tries] == names


async def test_rows_of_a_model_without_url_keep_the_segment_until_a_url_arrives(
    queue: CaptureQueue,
) -> None:
    storage = FakeStorage()
    urls = {"a": "https://acct/a?sig=1"}
    segment_of(queue, [row("a", 1), row("b", 2)])
    (segment,) = queue.closed()
    shipper = Shipper(queue, urls.get, storage.make)

    assert await shipper.ship_once() == 0
    assert queue.closed() == [segment]  # b's row waits on the device
    assert await shipper.ship_once() == 0
    assert storage.tries == [(urls["a"], "a", segment.name)]  # a's part is not sent twice

    urls["b"] = "https://acct/b?sig=2"
    assert await shipper.ship_once() == 1
    assert storage.blobs[(urls["b"], "b", segment.name)] == [row("b", 2)]
    assert queue.closed() == []


async def test_a_refused_url_keeps_the_segment_and_is_tried_again_once_it_changes(
    queue: CaptureQueue,
) -> None:
    storage = FakeStorage()
    urls = {"a": "https://acct/a?sig=expired"}
    storage.refuse.add(urls["a"])
    segment_of(queue, [row("a", 1)])
    shipper = Shipper(queue, urls.get, storage.make)

    assert await shipper.ship_once() == 0
    assert await shipper.ship_once() == 0
    assert len(storage.tries) == 1  # the same refusal is not asked for again
    assert shipper.stats["a"].last_error == "refused (403)"
    assert len(queue.closed()) == 1

    urls["a"] = "https://acct/a?sig=new"
    assert await shipper.ship_once() == 1
    assert shipper.stats["a"].last_error is None
    assert queue.closed() == []


async def test_a_refused_url_is_tried_again_once_its_retry_is_due(queue: CaptureQueue) -> None:
    storage = FakeStorage()
    urls = {"a": "https://acct/a?sig=1"}  # its container not made yet
    storage.refuse.add(urls["a"])
    segment_of(queue, [row("a", 1)])
    segment_of(queue, [row("a", 2)])
    now = [0.0]
    shipper = Shipper(queue, urls.get, storage.make, refused_retry_seconds=60, clock=lambda: now[0])

    assert await shipper.ship_once() == 0
    now[0] = 59.0
    assert await shipper.ship_once() == 0
    assert len(storage.tries) == 1  # the first segment's part, refused; the next one waits
    now[0] = 60.0
    assert await shipper.ship_once() == 0  # due: tried again, refused again
    assert len(storage.tries) == 2 and len(queue.closed()) == 2
    assert shipper.stats["a"].last_error == "refused (403)"

    storage.refuse.clear()  # the container was made
    now[0] = 119.0
    assert await shipper.ship_once() == 0
    now[0] = 120.0
    assert await shipper.ship_once() == 2  # the same URL, no twin change
    assert shipper.stats["a"].last_error is None and queue.closed() == []


async def test_a_url_the_uploaders_rules_refuse_waits_for_another(queue: CaptureQueue) -> None:
    made: list[str] = []

    def make(url: str, stats: UploadStats) -> Deliverer:
        made.append(url)
        raise ValueError("the capture URL https://acct/a has a SAS that grants more than writing")

    segment_of(queue, [row("a", 1)])
    now = [0.0]
    shipper = Shipper(queue, {"a": "https://acct/a?sp=rcw&sig=1"}.get, make, clock=lambda: now[0])
    assert await shipper.ship_once() == 0
    now[0] = 1e9  # no retry can change what the URL itself is
    assert await shipper.ship_once() == 0
    assert len(made) == 1 and len(queue.closed()) == 1


async def test_a_new_url_takes_over_from_one_still_being_retried(queue: CaptureQueue) -> None:
    storage = FakeStorage()
    urls = {"a": "https://acct/a?sig=offline"}
    storage.unreachable.add(urls["a"])
    segment_of(queue, [row("a", 1)])
    (segment,) = queue.closed()
    shipper = Shipper(queue, urls.get, storage.make, poll_seconds=0.05)
    task = asyncio.create_task(shipper.run())
    try:
        await asyncio.sleep(0.2)
        assert storage.tries == [(urls["a"], "a", segment.name)] and queue.closed() == [segment]
        urls["a"] = "https://acct/a?sig=new"
        shipper.wake()
        for _ in range(500):  # 10 s at most
            if not queue.closed():
                break
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
    assert queue.closed() == []
    assert storage.blobs == {(urls["a"], "a", segment.name): [row("a", 1)]}


async def test_a_url_the_uploader_refuses_to_build_is_reported(queue: CaptureQueue) -> None:
    def make(url: str, stats: UploadStats) -> Deliverer:
        raise ValueError("the capture URL https://acct/a carries no SAS")

    segment_of(queue, [row("a", 1)])
    shipper = Shipper(queue, {"a": "https://acct/a"}.get, make)
    assert await shipper.ship_once() == 0
    assert shipper.stats["a"].last_error == "the capture URL https://acct/a carries no SAS"
    assert len(queue.closed()) == 1


async def test_a_segment_dropped_by_the_bound_meanwhile_is_skipped(queue: CaptureQueue) -> None:
    storage = FakeStorage()
    segment_of(queue, [row("a", 1)])
    (segment,) = queue.closed()
    segment.path.unlink()
    assert await Shipper(queue, {"a": "https://x/a?sig=1"}.get, storage.make).ship_once() == 0
    assert storage.tries == []


def test_the_blob_day_is_the_segments_start_day(queue: CaptureQueue) -> None:
    segment_of(queue, [row("a", 1)])
    (segment,) = queue.closed()
    assert segment_day(segment) == datetime.now(UTC).date().isoformat()
