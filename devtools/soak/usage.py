"""What a process holds, read from /proc: resident memory, open files, threads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Usage:
    """One reading. ``rss_anon_kb`` is heap and stacks; ``rss_file_kb`` is mapped files
    (shared libraries paged in as code first runs), which grows without any leak."""

    rss_kb: int
    rss_anon_kb: int
    rss_file_kb: int
    fds: int
    threads: int


def read_usage(pid: int) -> Usage:
    """The process's usage now; FileNotFoundError once it has exited."""
    fields: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()[0] if value.split() else ""
    return Usage(
        rss_kb=int(fields["VmRSS"]),
        rss_anon_kb=int(fields["RssAnon"]),
        rss_file_kb=int(fields["RssFile"]),
        fds=sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir()),
        threads=int(fields["Threads"]),
    )
