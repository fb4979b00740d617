"""A candidate model loaded and smoke-tested in a child process with a deadline and a memory cap.

A valid model can still loop for ever (a ``Loop`` with a huge trip count) or ask for more memory
than the device has (a huge ``ConstantOfShape``, folded while loading). Tried in the module's own
process, one hangs the update worker and the other gets the whole module OOM-killed. The child
takes that blow instead: the parent kills it at the deadline, and the kernel refuses its
allocations past the cap.

The parent runs ``python -m predictor.models.check SECONDS MEMORY_MB THREADS PARENT_PID`` with the
model on stdin; the child answers one JSON line on stdout. A subprocess, not ``multiprocessing``:
the module has threads (the IoT SDK's, asyncio's executors) and must never fork them;
``subprocess`` execs the child straight away, and the child sets its limits itself (no
``preexec_fn``). A child whose parent dies (killed mid-check) is killed with it on Linux, and
its CPU time is capped as well, so an orphan cannot spin for ever either.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from predictor.models.contract import ModelError

# The parent's environment without the settings and IoT Edge's variables: the child needs no
# credentials to load a model. IoT Edge passes ``IOTEDGE_*`` (``IOTEDGE_WORKLOADURI`` is the
# socket that signs tokens with the module's key); ``EdgeHubConnectionString`` (with the key
# itself) and ``EdgeModuleCACertificateFile`` are how the IoT SDK connects outside the IoT Edge
# runtime (a simulator's debug path).
_HIDDEN = ("PREDICTOR_", "IOTEDGE_", "EdgeHubConnectionString", "EdgeModuleCACertificateFile")
# Where ``predictor`` is importable from, whatever the parent's working directory.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_MB = 1024 * 1024
_REASON_CHARS = 300
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass(frozen=True)
class CheckLimits:
    """How long, and with how much address space, a candidate model may take to load and
    answer its smoke prediction, and how many of its checks a kill or a power cut may cut
    short before it is refused (``PREDICTOR_MODEL_CHECK_*``)."""

    seconds: float = 30.0
    memory_mb: int = 1024
    interruptions: int = 3


DEFAULT_LIMITS = CheckLimits()


async def check_in_child(data: bytes, limits: CheckLimits, *, threads: int = 1) -> None:
    """Load and smoke-test ``data`` in a bounded child process; ModelError with the reason if it
    is refused, runs past the deadline, or the child dies. Cancelling kills the child."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "predictor.models.check",
        str(limits.seconds),
        str(limits.memory_mb),
        str(threads),
        str(os.getpid()),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_child_env(),
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(data), limits.seconds)
    except TimeoutError:
        raise ModelError(
            f"loading and smoke-testing the model took more than {limits.seconds:g} s "
            f"(PREDICTOR_MODEL_CHECK_SECONDS); it was stopped"
        ) from None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    try:
        answer = json.loads(out)
        ok, reason = answer["ok"], answer.get("reason")
    except (ValueError, TypeError, KeyError):
        raise ModelError(_death(process.returncode, err, limits)) from None
    if ok is not True:
        raise ModelError(str(reason)[:_REASON_CHARS])


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_HIDDEN)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
    return env


def _death(code: int | None, err: bytes, limits: CheckLimits) -> str:
    """Why a child that gave no answer ended: a signal (the OOM killer's SIGKILL) or a crash."""
    if code == -signal.SIGXCPU:
        how = "ran out of CPU time"
    elif code is not None and code < 0:
        how = f"was killed by {signal.Signals(-code).name}"
    else:
        how = f"ended with exit code {code}"
    lines = err.decode(errors="replace").strip().splitlines()
    last = f": {lines[-1][:200]}" if lines else ""
    return (
        f"the model check process {how} without an answer (memory cap "
        f"{limits.memory_mb} MB, PREDICTOR_MODEL_CHECK_MEMORY_MB){last}"
    )


def main(argv: list[str]) -> int:
    """The child: limit itself, read the model from stdin, answer on stdout."""
    import math
    import resource  # the child's only: not on the module's way to its first answer

    seconds, memory_mb, threads, parent = float(argv[0]), int(argv[1]), int(argv[2]), int(argv[3])
    _die_with(parent)
    cap = memory_mb * _MB
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    # The deadline in CPU seconds too (a backstop: the parent's deadline is wall time).
    cpu = math.ceil(seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    # After the cap, so that ONNX Runtime's own start counts against it too.
    from predictor.models.runtime import OnnxModel

    data = sys.stdin.buffer.read()
    try:
        OnnxModel.from_bytes(data, "check", threads=threads)
        answer: dict[str, object] = {"ok": True}
    except (ModelError, MemoryError) as exc:
        reason = str(exc)
        # ONNX Runtime says "Failed to allocate memory" deep in a long first line.
        if isinstance(exc, MemoryError) or "allocat" in reason.lower():
            reason = f"the model needs more memory than the {memory_mb} MB cap: {reason}"
        answer = {"ok": False, "reason": reason}
    sys.stdout.write(json.dumps(answer))
    return 0


def _die_with(parent: int) -> None:
    """Be killed when the parent dies (Linux ``PR_SET_PDEATHSIG``; elsewhere, the CPU cap
    bounds an orphan), and be the OOM killer's first choice when the container's memory runs
    out below the cap: the child goes, the module stays."""
    if sys.platform == "linux":
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        with contextlib.suppress(OSError):
            Path("/proc/self/oom_score_adj").write_text("1000")
    if os.getppid() != parent:  # it died before that
        sys.exit(1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
