"""The capture queue through its real files and writer thread: batches, segments, recovery at
start, the bound, confirmation and the drops, each counted."""

from __future__ import annotations

import json
import resource
from collections.abc import Iterator
from pathlib import Path

import pytest

from predictor.capture import framing
from predictor.capture.queue import CaptureQueue
from predictor.settings import CaptureSettings, SettingsError, load_settings
from tests.support.waiting import wait_until

SMALL = CaptureSettings(
    capture_max_bytes=16384, capture_segment_bytes=4096, capture_segment_seconds=60
)


def rows_of(queue: CaptureQueue) -> list[object]:
    return [json.loads(line) for s in queue.closed() for line in s.jsonl().splitlines() if line]


@pytest.fixture
def started(tmp_path: Path) -> Iterator[CaptureQueue]:
    queue = CaptureQueue(tmp_path / "capture", SMALL)
    queue.start()
    yield queue
    queue.close(5)


def test_offered_rows_are_written_in_order_and_closed_at_stop(tmp_path: Path) -> None:
    queue = CaptureQueue(tmp_path / "capture", SMALL)
    queue.start()
    for n in range(10):
        assert queue.offer({"n": n, "text": "é\n"})
    assert queue.flush(5)
    assert queue.closed() == []  # the open segment is never offered
    stats = queue.stats()
    assert (stats.offered_rows, stats.written_rows, stats.queued_rows) == (10, 10, 10)
    queue.close(5)
    assert rows_of(queue) == [{"n": n, "text": "é\n"} for n in range(10)]
    assert [p.suffix for p in (tmp_path / "capture").iterdir()] == [".seg"]


def test_a_segment_is_closed_at_its_size(started: CaptureQueue) -> None:
    for n in range(200):  # ~13 KB, under the bound
        started.offer({"n": n, "pad": "x" * 40})
    assert started.flush(5)
    closed = started.closed()
    assert len(closed) >= 3
    assert all(s.size <= 4096 and s.path.stat().st_size == s.size for s in closed)
    assert [s.seq for s in closed] == sorted(s.seq for s in closed)
    stats = started.stats()
    assert stats.queued_segments == len(closed)
    assert stats.queued_bytes == stats.written_bytes
    started.close(5)
    assert [r["n"] for r in rows_of(started)] == list(range(200))  # type: ignore[index]


def test_a_segment_is_closed_at_its_age(tmp_path: Path) -> None:
    settings = CaptureSettings(
        capture_max_bytes=16384, capture_segment_bytes=4096, capture_segment_seconds=0.2
    )
    queue = CaptureQueue(tmp_path, settings)
    queue.start()
    try:
        queue.offer({"n": 1})
        wait_until(lambda: queue.closed(), 5, "the segment closed at its age")
        assert rows_of(queue) == [{"n": 1}]
    finally:
        queue.close(5)


def test_an_open_segment_left_by_a_power_cut_is_cut_to_its_whole_rows(tmp_path: Path) -> None:
    left = tmp_path / "000000000007-20261206T040000Z.open"
    whole = framing.frame(b'{"n":1}') + framing.frame(b'{"n":2}')
    left.write_bytes(whole + b'%08x {"n":3' % 0 + b"\0" * 100)
    (tmp_path / "000000000008-20261206T040100Z.open").write_bytes(b"\0" * 4096)  # nothing whole
    (tmp_path / "notes.txt").write_text("not a segment")  # left alone
    queue = CaptureQueue(tmp_path, SMALL)
    queue.start()
    try:
        [segment] = queue.closed()
        assert segment.path.name == "000000000007-20261206T040000Z-2.seg"
        assert (segment.name, segment.rows, segment.size) == (
            "000000000007-20261206T040000Z",
            2,
            len(whole),
        )
        assert segment.path.read_bytes() == whole
        assert rows_of(queue) == [{"n": 1}, {"n": 2}]
        stats = queue.stats()
        assert stats.dropped_bytes == {"torn": 4096 + 9 + 6 + 100}
        assert sorted(p.name for p in tmp_path.iterdir()) == [segment.path.name, "notes.txt"]
        queue.offer({"n": 4})  # a new segment follows the recovered ones
        queue.close(5)
        assert [s.seq for s in queue.closed()] == [7, 9]
    finally:
        queue.close(5)


def test_the_bound_drops_the_oldest_segment_first_and_counts_it(started: CaptureQueue) -> None:
    for n in range(1000):
        started.offer({"n": n, "pad": "x" * 40})
    assert started.flush(5)
    stats = started.stats()
    assert stats.queued_bytes <= SMALL.capture_max_bytes
    assert stats.dropped_rows["bound"] > 0
    assert stats.dropped_rows["bound"] + stats.queued_rows == 1000
    assert stats.dropped_bytes["bound"] + stats.queued_bytes == stats.written_bytes
    started.close(5)
    kept = [r["n"] for r in rows_of(started)]  # type: ignore[index]
    assert kept == list(range(1000 - len(kept), 1000))  # the newest rows, all of them
    on_disk = sum(p.stat().st_size for p in started.directory.iterdir())
    assert on_disk == started.stats().queued_bytes <= SMALL.capture_max_bytes


def test_a_segment_is_deleted_only_when_its_upload_is_confirmed(started: CaptureQueue) -> None:
    for n in range(200):
        started.offer({"n": n, "pad": "x" * 40})
    started.close(5)
    first, *rest = started.closed()
    assert first.path.exists()
    assert started.confirm(first)
    assert not first.path.exists() and started.closed() == rest
    assert not started.confirm(first)  # twice: nothing more
    stats = started.stats()
    assert (stats.uploaded_rows, stats.uploaded_bytes, stats.uploaded_segments) == (
        first.rows,
        first.size,
        1,
    )


def test_rows_that_cannot_be_kept_are_dropped_and_counted(started: CaptureQueue) -> None:
    assert started.offer({"fine": 1})
    assert started.offer({"not json": object()})  # taken, dropped by the writer
    assert started.offer({"huge": "x" * 5000})  # larger than a segment
    assert started.offer([float("nan")])  # orjson writes NaN as null
    started.close(5)
    stats = started.stats()
    assert stats.dropped_rows == {"unencodable": 1, "too_large": 1}
    assert stats.dropped_bytes["too_large"] > 5000
    assert rows_of(started) == [{"fine": 1}, [None]]


def test_a_full_memory_queue_drops_the_new_row_at_once(tmp_path: Path) -> None:
    settings = CaptureSettings(
        capture_max_bytes=16384, capture_segment_bytes=4096, capture_queue_rows=2
    )
    queue = CaptureQueue(tmp_path, settings)  # not started: its writer takes nothing
    assert queue.offer(1) and queue.offer(2)
    assert not queue.offer(3)
    stats = queue.stats()
    assert (stats.offered_rows, stats.dropped_rows) == (3, {"busy": 1})
    queue.start()  # the writer catches up: the two taken rows reach the disk
    queue.close(5)
    assert rows_of(queue) == [1, 2]


def test_the_capture_settings_are_bounded() -> None:
    settings = load_settings({}).capture
    assert settings.capture_max_bytes == 64 * 1024 * 1024
    assert settings.capture_segment_bytes * 4 <= settings.capture_max_bytes
    loaded = load_settings({"PREDICTOR_CAPTURE_MAX_BYTES": "8388608"}).capture
    assert loaded.capture_max_bytes == 8388608
    with pytest.raises(SettingsError, match="at most a quarter"):
        load_settings({"PREDICTOR_CAPTURE_SEGMENT_BYTES": str(32 * 1024 * 1024)})
    with pytest.raises(SettingsError, match="PREDICTOR_CAPTURE_MAX_BYTES"):
        load_settings({"PREDICTOR_CAPTURE_MAX_BYTES": "1000"})


def test_a_refused_write_drops_its_batch_and_keeps_the_segment_whole(tmp_path: Path) -> None:
    # A file size limit makes the kernel refuse the write that crosses it (EFBIG; Python
    # ignores SIGXFSZ), as a full disk would, possibly after writing part of a line.
    queue = CaptureQueue(tmp_path, SMALL)
    queue.start()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, hard))
    try:
        for n in range(40):
            queue.offer({"n": n, "pad": "x" * 40})
            assert queue.flush(5)  # one batch a row: the write that crosses 1000 B fails
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    queue.offer({"n": "after"})
    queue.close(5)
    stats = queue.stats()
    assert stats.last_error is not None and "File too large" in stats.last_error
    assert stats.dropped_rows["write"] > 0
    assert stats.written_rows + stats.dropped_rows["write"] == 41
    kept = rows_of(queue)
    assert len(kept) == stats.written_rows == stats.queued_rows
    for segment in queue.closed():  # whole lines only, as many as the name says
        data = segment.path.read_bytes()
        assert framing.good_prefix(data) == (len(data), segment.rows)
    assert kept[-1] == {"n": "after"}


def test_a_segment_dropped_while_it_is_uploaded_cannot_be_read_or_confirmed(
    started: CaptureQueue,
) -> None:
    for n in range(100):
        started.offer({"n": n, "pad": "x" * 40})
    assert started.flush(5)
    uploading = started.closed()[0]  # the uploader took it, then the bound drops it
    for n in range(1000):
        started.offer({"n": n, "pad": "y" * 40})
    assert started.flush(5)
    assert uploading not in started.closed()
    with pytest.raises(FileNotFoundError):
        uploading.jsonl()
    assert not started.confirm(uploading)
    assert started.stats().uploaded_segments == 0
