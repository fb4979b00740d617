"""Start a server pinned to its CPUs, time it to its first good answer, read its memory, stop it."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
_TICKS = os.sysconf("SC_CLK_TCK")


class ServerError(RuntimeError):
    """A server did not start, or did not answer."""


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    cold_start_s: float  # from spawning the process to its first 200 answer
    cold_start_cpu_s: float = 0.0  # CPU time the server used until then

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def rss_mb(self) -> float:
        """Resident memory of the server and all its children (gunicorn's workers)."""
        return sum(_rss_kb(pid) for pid in _tree(self.process.pid)) / 1024

    def memory_mb(self) -> dict[str, float]:
        """VmRSS and its parts, of the server and its children: ``anon`` is the heap and the
        other private memory, ``file`` the mapped files (the libraries' code, which the kernel
        can drop and read again, and shares between processes)."""
        kb = {"rss": 0, "anon": 0, "file": 0}
        for pid in _tree(self.process.pid):
            for key, value in _status_kb(pid, {"VmRSS": "rss", "RssAnon": "anon"}).items():
                kb[key] += value
            kb["file"] += sum(_status_kb(pid, {"RssFile": "f", "RssShmem": "s"}).values())
        return {key: value / 1024 for key, value in kb.items()}

    def cpu_seconds(self) -> float:
        """User and system CPU time used so far by the server and its children."""
        return tree_cpu_seconds(self.process.pid)

    def get(self, path: str) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection(HOST, self.port, timeout=10)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start(
    name: str,
    argv: list[str],
    env: dict[str, str],
    *,
    port: int,
    cpus: str,
    probe_path: str,
    probe_body: bytes,
    log: Path,
    timeout: float = 60.0,
) -> Server:
    """Spawn ``argv`` on ``cpus`` and poll ``POST probe_path`` until it answers 200."""
    with log.open("wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            ["taskset", "-c", cpus, *argv],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so that a stuck one can be killed
        )
    server = Server(name, process, port, log, 0.0)
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise ServerError(f"{name} exited {process.returncode}: {_tail(log)}")
        if _post_ok(port, probe_path, probe_body):
            server.cold_start_s = time.perf_counter() - started
            server.cold_start_cpu_s = server.cpu_seconds()
            return server
        time.sleep(0.002)
    server.stop()
    raise ServerError(f"{name} gave no 200 on {probe_path} in {timeout:.0f} s: {_tail(log)}")


def _post_ok(port: int, path: str, body: bytes) -> bool:
    connection = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status == 200
    except OSError:
        return False
    finally:
        connection.close()


def tree_cpu_seconds(pid: int) -> float:
    """User and system CPU time used so far by process ``pid`` and its children."""
    return sum(_cpu_ticks(p) for p in _tree(pid)) / _TICKS


def main_thread_cpu_seconds(pid: int) -> float:
    """CPU time of process ``pid``'s main thread (a Python module's event loop). The rest of
    its CPU time is its other threads', including those that have ended."""
    return _stat_ticks(Path(f"/proc/{pid}/task/{pid}/stat")) / _TICKS


def _tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children = task.read_text().split()
        except OSError:
            continue
        for child in children:
            pids.extend(_tree(int(child)))
    return pids


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _status_kb(pid: int, fields: dict[str, str]) -> dict[str, int]:
    """Fields of /proc/PID/status in kB, under the names ``fields`` maps them to."""
    found: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in fields:
                found[fields[key]] = int(value.split()[0])
    except OSError:
        pass
    return found


def _cpu_ticks(pid: int) -> int:
    return _stat_ticks(Path(f"/proc/{pid}/stat"))


def _stat_ticks(path: Path) -> int:
    try:
        stat = path.read_text()
    except OSError:
        return 0
    fields = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces
    return int(fields[11]) + int(fields[12])  # utime, stime


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace").strip()[-800:]
    except OSError:
        return "(no log)"
