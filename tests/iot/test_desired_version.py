"""The last desired $version handled, kept beside the cache (the module through the emulator is
in test_twin_reports.py)."""

from __future__ import annotations

from pathlib import Path

from predictor.iot.desired_version import FILE, HandledVersion


def test_the_version_survives_a_restart_and_older_ones_are_older(tmp_path: Path) -> None:
    first = HandledVersion(tmp_path / "cache")
    assert first.version is None and not first.is_older(1)
    first.handled(7)
    again = HandledVersion(tmp_path / "cache")
    assert again.version == 7
    assert again.is_older(6) and not again.is_older(7) and not again.is_older(8)
    assert not list((tmp_path / "cache").glob(".*.tmp"))  # the temporary file was renamed


def test_a_damaged_file_reads_as_no_version_handled(tmp_path: Path) -> None:
    for content in (b"{not json", b'{"version": "7"}', b'{"version": true}', b"[7]"):
        (tmp_path / FILE).write_bytes(content)
        assert HandledVersion(tmp_path).version is None


def test_an_unwritable_folder_keeps_the_version_in_memory(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_bytes(b"")  # a file where the cache folder should be
    handled = HandledVersion(blocked / "cache")
    handled.handled(3)
    assert handled.version == 3 and handled.is_older(2)
