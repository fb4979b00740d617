"""``python -m bench.named_predictor``: ``python -m predictor`` whose threads carry their Python
names as their OS names (the ``comm`` that ``/proc`` shows), so that ``bench.iot_threads`` can
tell whose CPU time is whose. Linux only (``prctl``); the name is cut to the kernel's 15 bytes.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from typing import Any

PR_SET_NAME = 15
_libc = ctypes.CDLL(None)
_bootstrap = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]


def short_name(name: str) -> str:
    """A thread's Python name, cut to fit: ``Thread-5 (_thread_main)`` -> ``_thread_main``
    (its target), ``ThreadPoolExecutor-2_0`` -> ``tpe-2_0``, else the first 15 characters."""
    if "(" in name and name.endswith(")"):
        name = name[name.index("(") + 1 : -1]
    elif name.startswith("ThreadPoolExecutor-"):
        name = "tpe-" + name.removeprefix("ThreadPoolExecutor-")
    return name[:15]


def _named(self: threading.Thread, *args: Any) -> Any:
    _libc.prctl(PR_SET_NAME, short_name(self.name).encode(), 0, 0, 0)
    return _bootstrap(self, *args)


if __name__ == "__main__":
    threading.Thread._bootstrap_inner = _named  # type: ignore[attr-defined]
    from predictor.__main__ import main

    sys.exit(main())
