"""HTTP requests to a server that runs in another network namespace (a container's own loopback).

The request is made by a small Python client started with ``nsenter --net`` into the server
process's namespace, so the server keeps the address and port its image says, unreachable from
and unable to clash with the host.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools import hosttools

_CLIENT = r"""
import json, sys, urllib.error, urllib.request
method, url, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
body = sys.stdin.buffer.read() or None
headers = {"Content-Type": "application/json"} if body else {}
request = urllib.request.Request(url, data=body, method=method, headers=headers)
try:
    with urllib.request.urlopen(request, timeout=timeout) as response:
        status, data = response.status, response.read()
except urllib.error.HTTPError as exc:
    status, data = exc.code, exc.read()
except OSError as exc:
    print(json.dumps({"error": str(exc)}))
    sys.exit(0)
print(json.dumps({"status": status, "body": data.decode("utf-8", "replace")}))
"""


class UnreachableError(ConnectionError):
    """Nothing answered (no listener yet, a reset, a timeout)."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    pid: int, method: str, url: str, body: bytes | None = None, timeout: float = 10.0
) -> Answer:
    """``method url`` from inside the network namespace of process ``pid``."""
    argv = ["nsenter", f"--net=/proc/{pid}/ns/net", "--", sys.executable, "-c", _CLIENT]
    try:
        result = subprocess.run(
            [*argv, method, url, str(timeout)],
            input=body or b"",
            capture_output=True,
            timeout=timeout + 30,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise UnreachableError(f"{method} {url}: no answer in {timeout:.0f} s") from exc
    if result.returncode != 0:
        # The process is gone (its namespace with it) or nsenter is not allowed.
        raise UnreachableError(f"{method} {url}: {hosttools.tail(result.stderr, 5)}")
    reply = json.loads(result.stdout)
    if "error" in reply:
        raise UnreachableError(f"{method} {url}: {reply['error']}")
    return Answer(status=int(reply["status"]), body=str(reply["body"]))


def wait_until_healthy(
    process: subprocess.Popen[bytes],
    url: str,
    log: Path,
    timeout: float = 180.0,
    pid: int | None = None,
) -> Answer:
    """Poll ``url`` in the network namespace of ``pid`` (by default ``process``'s) until it
    answers 200; fail fast if ``process`` exits."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"the server exited with {process.returncode} before it was healthy:\n"
                + hosttools.tail(log.read_bytes() if log.exists() else b"")
            )
        try:
            answer = request(pid or process.pid, "GET", url, timeout=5.0)
        except UnreachableError as exc:
            last = str(exc)
        else:
            if answer.status == 200:
                return answer
            last = f"{answer.status} {answer.body[:200]}"
        time.sleep(0.5)
    raise TimeoutError(f"{url} was not healthy after {timeout:.0f} s: {last}")
