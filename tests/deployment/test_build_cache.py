"""The .cache/ entries the image checks rely on: built once, whole or not at all, pruned."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools import cache


def test_an_entry_is_built_once_and_then_reused(tmp_path: Path) -> None:
    builds: list[Path] = []

    def build(path: Path) -> None:
        builds.append(path)
        path.write_text("artefact", encoding="utf-8")

    first = cache.entry("thing", "abc123", build, suffix=".tar", cache_dir=tmp_path)
    second = cache.entry("thing", "abc123", build, suffix=".tar", cache_dir=tmp_path)
    assert first == second == tmp_path / "thing-abc123.tar"
    assert first.read_text(encoding="utf-8") == "artefact"
    assert len(builds) == 1 and builds[0] != first


def test_a_new_key_replaces_the_old_entry_but_not_other_names(tmp_path: Path) -> None:
    def build(path: Path) -> None:
        path.mkdir()

    old = cache.entry("thing", "1111", build, cache_dir=tmp_path)
    other = cache.entry("thing-extra", "1111", build, cache_dir=tmp_path)
    new = cache.entry("thing", "2222", build, cache_dir=tmp_path)
    assert new.is_dir() and other.is_dir()
    assert not old.exists()


def test_a_failed_build_leaves_no_entry(tmp_path: Path) -> None:
    def build(path: Path) -> None:
        path.mkdir()
        (path / "half").write_text("half", encoding="utf-8")
        raise RuntimeError("debootstrap failed")

    with pytest.raises(RuntimeError, match="debootstrap failed"):
        cache.entry("thing", "abc", build, cache_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thing.lock"]


def test_the_key_follows_file_contents(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("numpy==2.4.6\n", encoding="utf-8")
    before = cache.digest("1", requirements)
    assert cache.digest("1", requirements) == before
    requirements.write_text("numpy==2.4.7\n", encoding="utf-8")
    assert cache.digest("1", requirements) != before
    assert cache.digest("2", requirements) != cache.digest("1", requirements)
