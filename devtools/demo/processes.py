"""Start the demo's processes and stop them all again, also from another run (``--stop``).

Each process runs in a session (process group) of its own, with its output in its own log file,
and carries ``DEMO_STARTED_BY=<state dir>`` in its environment. Its children (mosquitto under the
emulator, node under Azurite) inherit both, so stopping a group stops them, and a scan of
``/proc`` for the marker finds anything left over, even after the demo itself has exited.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

MARKER = "DEMO_STARTED_BY"
PROC = Path("/proc")


@dataclass(frozen=True)
class Started:
    name: str
    pid: int
    log: Path


class Processes:
    """The processes of one demo, recorded in ``<state dir>/pids.json``."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir.resolve()
        self.logs = self.state_dir / "logs"
        self.record = self.state_dir / "pids.json"

    def log_path(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        stdout: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in a new session; stderr (and stdout unless given) go to its log."""
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.log_path(name)
        with log.open("ab") as err, (stdout or log).open("ab") as out:
            process = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env={**env, MARKER: str(self.state_dir)},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        self._remember(Started(name, process.pid, log))
        return process

    def started(self) -> list[Started]:
        try:
            entries = json.loads(self.record.read_text(encoding="utf-8"))
            return [Started(e["name"], int(e["pid"]), Path(e["log"])) for e in entries]
        except (OSError, ValueError, KeyError, TypeError):
            return []

    def _remember(self, started: Started) -> None:
        entries = [*self.started(), started]
        self.record.write_text(
            json.dumps([{"name": e.name, "pid": e.pid, "log": str(e.log)} for e in entries]),
            encoding="utf-8",
        )

    def stop(self, name: str, grace: float = 15.0) -> None:
        """SIGTERM the newest process started as ``name`` and its group, SIGKILL after ``grace``
        (the demo restarts the sensor with other settings)."""
        for entry in reversed(self.started()):
            if entry.name == name:
                _signal_group(entry.pid, signal.SIGTERM)
                _wait_group_gone(entry.pid, grace)
                return

    def leftovers(self) -> list[int]:
        """Live processes (not zombies) that carry this demo's marker."""
        return marked_processes(self.state_dir)

    def stop_all(self, grace: float = 15.0) -> list[int]:
        """SIGTERM each group, newest first; SIGKILL what is still there. Returns survivors."""
        for entry in reversed(self.started()):
            _signal_group(entry.pid, signal.SIGTERM)
            _wait_group_gone(entry.pid, grace)
        for pid in self.leftovers():
            _signal(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while self.leftovers() and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = self.leftovers()
        if not survivors:
            self.record.unlink(missing_ok=True)
        return survivors


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _group_members(pgid: int) -> list[int]:
    return [pid for pid, group in _live_processes() if group == pgid]


def _wait_group_gone(pgid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _group_members(pgid) and time.monotonic() < deadline:
        _reap()
        time.sleep(0.05)
    if _group_members(pgid):
        _signal_group(pgid, signal.SIGKILL)
    _reap()


def _reap() -> None:
    """Collect our own exited children, so that they do not linger as zombies."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] != 0:
            pass


def _live_processes() -> Iterator[tuple[int, int]]:
    """(pid, process group) of every live, non-zombie process we can see."""
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may hold spaces; it ends at the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] in ("Z", "X"):
            continue
        yield int(entry.name), int(fields[2])


def marked_processes(state_dir: Path) -> list[int]:
    """Live processes whose environment says the demo in ``state_dir`` started them."""
    needle = f"{MARKER}={state_dir.resolve()}".encode()
    found = []
    for pid, _ in _live_processes():
        try:
            environ = (PROC / str(pid) / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(pid)
    return found
