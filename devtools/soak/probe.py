"""The predictor with a memory probe: ``python -m devtools.soak.probe`` (soak runs only).

The real app from ``create_app`` plus two routes a soak driver reads: ``GET /soak/probe`` (what
lives in the Python heap and in glibc's, and how many models and ONNX Runtime sessions are still
alive) and ``POST /soak/trim`` (``malloc_trim``: how much of the resident memory is free heap
glibc has kept). Never part of the shipped module.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import re
import sys
import threading
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import onnxruntime as ort
from aiohttp import web
from pydantic_settings import BaseSettings, SettingsConfigDict

from predictor.__main__ import main
from predictor.api.state import MANAGER
from predictor.app import create_app
from predictor.models.runtime import OnnxModel
from predictor.settings import Settings

PROBE_PATH = "/soak/probe"
TRIM_PATH = "/soak/trim"
_BASELINE = web.AppKey("soak_baseline", tracemalloc.Snapshot)


class ProbeSettings(BaseSettings):
    """``SOAK_TRACEMALLOC_FRAMES``: trace Python allocations with this many frames (0: off;
    tracing costs CPU and memory of its own, so the RSS figures of a traced run are not
    the module's)."""

    model_config = SettingsConfigDict(env_prefix="SOAK_")

    tracemalloc_frames: int = 0


class _MallInfo2(ctypes.Structure):
    # glibc's struct mallinfo2 (2.33+): every field a size_t, summed over all arenas.
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None or not sys.platform.startswith("linux"):
        return None
    return ctypes.CDLL(name)


_LIBC = _libc()


def malloc_stats() -> dict[str, int] | None:
    """glibc's heap: bytes taken from the system by arenas and mmap, in use and free."""
    if _LIBC is None or not hasattr(_LIBC, "mallinfo2"):
        return None
    _LIBC.mallinfo2.restype = _MallInfo2
    info = _LIBC.mallinfo2()
    return {
        "arena_bytes": info.arena,
        "mmap_bytes": info.hblkhd,
        "in_use_bytes": info.uordblks,
        "free_bytes": info.fordblks,
    }


def rss_kb() -> int:
    status = Path("/proc/self/status").read_text()
    return int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1])


def heap_census(app: web.Application, collect: bool) -> dict[str, Any]:
    """Objects the garbage collector tracks, and the models and sessions among them."""
    collected = gc.collect() if collect else None
    current = app[MANAGER].current
    objects = gc.get_objects()
    models = [o for o in objects if isinstance(o, OnnxModel)]
    sessions = sum(1 for o in objects if isinstance(o, ort.InferenceSession))
    stale = [m for m in models if m is not current]
    # Who keeps a swapped-out model alive, when one is: the first thing to look at in a leak.
    holders = sorted({type(r).__name__ for m in stale[:3] for r in gc.get_referrers(m)} - {"list"})
    census = {
        "objects": len(objects),
        "collected": collected,
        "models_alive": len(models),
        "stale_models": len(stale),
        "stale_versions": sorted({m.version for m in stale}),
        "stale_held_by": holders,
        "sessions_alive": sessions,
    }
    del objects, models, stale
    return census


def thread_kinds() -> dict[str, int]:
    """Python threads by name, a pool's workers folded into one entry ("asyncio_N",
    "ThreadPoolExecutor-0_N"): a pool may start workers late, up to its max_workers. So are
    asyncio's child waiters ("asyncio-waitpid-<pid>"), one while a model check runs."""
    waiters = (
        re.sub(r"^asyncio-waitpid-\d+$", "asyncio-waitpid_N", t.name) for t in threading.enumerate()
    )
    names = (re.sub(r"_\d+$", "_N", name) for name in waiters)
    return dict(Counter(re.sub(r"^Thread-\d+", "Thread-N", name) for name in names))


def top_allocations(app: web.Application, limit: int = 8) -> list[dict[str, Any]]:
    """Where traced Python memory grew most since the first probe (empty when not tracing)."""
    if not tracemalloc.is_tracing():
        return []
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    if _BASELINE not in app:
        app[_BASELINE] = snapshot
        return []
    return [
        {"where": str(stat.traceback[0]), "size_diff": stat.size_diff, "count": stat.count_diff}
        for stat in snapshot.compare_to(app[_BASELINE], "lineno")[:limit]
    ]


async def probe(request: web.Request) -> web.Response:
    """``?gc=1`` collects garbage first, so that only what is really referenced is counted."""
    app = request.app
    body = {
        **heap_census(app, collect=request.query.get("gc") == "1"),
        "python_threads": threading.active_count(),
        "thread_kinds": thread_kinds(),
        "traced_bytes": tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else None,
        "top_allocations": top_allocations(app),
        "malloc": malloc_stats(),
    }
    return web.json_response(body)


async def trim(request: web.Request) -> web.Response:
    """Give free heap back to the system and say how much resident memory that returned."""
    before = rss_kb()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
    return web.json_response({"rss_kb_before": before, "rss_kb_after": rss_kb()})


def probe_app(settings: Settings) -> web.Application:
    frames = ProbeSettings().tracemalloc_frames
    if frames > 0:
        tracemalloc.start(frames)
    app = create_app(settings)
    app.router.add_get(PROBE_PATH, probe)
    app.router.add_post(TRIM_PATH, trim)
    return app


if __name__ == "__main__":
    sys.exit(main(probe_app))
