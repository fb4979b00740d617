"""``python -m bench.imports``: what each of the predictor's dependencies costs at start-up.

Each figure comes from a fresh interpreter that imports one thing and reports the CPU seconds
(user + system, of that process) and the RSS it grew by. The medians over ``--repeats``
processes are printed. Three groups:

- the big dependencies one by one (ONNX Runtime, numpy, the IoT SDK, aiohttp's server, the
  pydantic-settings that the settings once used, ...), each alone in its process;
- pieces of them: the TLS contexts that ``aiohttp.connector`` builds at import, the typed
  settings read (``load_settings()``), and one ONNX Runtime session of the bundled model;
- the predictor's own code with and without its bytecode: the release image runs with
  ``PYTHONDONTWRITEBYTECODE=1`` from a root-owned ``/app``, so unless the image compiles it,
  every start compiles ``predictor/`` from source.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.candidates import BUNDLED_MODEL, PREDICTOR_DIR

# What one process runs: read the baseline, do ``setup`` (not counted), then ``code``.
PROBE = """
import json, resource, sys

def rss_kb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

{setup}
rss0, cpu0 = rss_kb(), cpu()
{code}
print(json.dumps({{"cpu_s": cpu() - cpu0, "rss_mb": (rss_kb() - rss0) / 1024}}))
"""

# (name, setup, code): each alone in a fresh process.
ALONE = [
    ("numpy", "", "import numpy"),
    ("onnxruntime (with numpy)", "", "import onnxruntime"),
    ("onnxruntime, numpy already in", "import numpy", "import onnxruntime"),
    ("azure.iot.device (the IoT SDK)", "", "import azure.iot.device.aio"),
    ("azure.storage.blob", "", "import azure.storage.blob.aio"),
    ("aiohttp.web", "", "import aiohttp.web"),
    ("pydantic_settings", "", "import pydantic_settings"),
    ("prometheus_client", "", "import prometheus_client"),
    ("orjson", "", "import orjson"),
    ("tenacity", "", "import tenacity"),
    ("ssl", "", "import ssl"),
    (
        "two TLS contexts as aiohttp.connector builds them",
        "import ssl",
        "ssl.create_default_context(); ssl.create_default_context()",
    ),
    (
        "the IoT face (predictor.iot.edge), the HTTP face already in",
        "import predictor.__main__, predictor.app, predictor.serve",
        "import predictor.iot.edge",
    ),
    (
        "azure.storage.blob, the HTTP face and the IoT link already in",
        "import predictor.__main__, predictor.app, predictor.serve, predictor.iot.link",
        "import azure.storage.blob.aio",
    ),
    (
        "pydantic_settings after the predictor's other dependencies",
        "import numpy, onnxruntime, aiohttp.web, prometheus_client, orjson, tenacity",
        "import pydantic_settings",
    ),
    (
        "msgspec (the settings' library now) after the same others",
        "import numpy, onnxruntime, aiohttp.web, prometheus_client, orjson, tenacity",
        "import msgspec",
    ),
    (
        "predictor.settings (its class built) after the same others",
        "import numpy, onnxruntime, aiohttp.web, prometheus_client, orjson, tenacity",
        "import predictor.settings",
    ),
    (
        "load_settings() (predictor.settings, imports done)",
        "import predictor.settings",
        "predictor.settings.load_settings()",
    ),
    (
        "ONNX Runtime session of the bundled model",
        "import onnxruntime",
        f"onnxruntime.InferenceSession({str(BUNDLED_MODEL)!r}).run(None, "
        "{'input': __import__('numpy').zeros((1, 4), 'float32')})",
    ),
]

# The predictor's way to its first answer, as ``python -m predictor`` imports it.
PREDICTOR_IMPORTS = "import predictor.__main__, predictor.app, predictor.serve"


def probe(setup: str, code: str, env: dict[str, str], pythonpath: str) -> dict[str, float]:
    script = PROBE.format(setup=setup, code=code)
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": pythonpath, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def median(rows: Sequence[dict[str, float]], key: str) -> float:
    return statistics.median(row[key] for row in rows)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.imports", description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    path = str(PREDICTOR_DIR)
    results: dict[str, dict[str, float]] = {}
    for name, setup, code in ALONE:
        rows = [probe(setup, code, {}, path) for _ in range(args.repeats)]
        results[name] = {"cpu_s": median(rows, "cpu_s"), "rss_mb": median(rows, "rss_mb")}
    with tempfile.TemporaryDirectory() as work:
        # Two copies of predictor/: one as the image has it now (sources only, and the
        # interpreter told not to write bytecode), one compiled as `python -m compileall` would.
        source, compiled = Path(work, "source"), Path(work, "compiled")
        for target in (source, compiled):
            shutil.copytree(
                PREDICTOR_DIR / "predictor",
                target / "predictor",
                ignore=shutil.ignore_patterns("__pycache__"),
            )
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(compiled / "predictor")], check=True
        )
        for label, copy in (("sources only", source), ("compiled", compiled)):
            rows = []
            for round_no in range(args.repeats):
                rows.append(
                    probe("", PREDICTOR_IMPORTS, {"PYTHONDONTWRITEBYTECODE": "1"}, str(copy))
                )
                del round_no
            results[f"predictor's imports, its own code {label}"] = {
                "cpu_s": median(rows, "cpu_s"),
                "rss_mb": median(rows, "rss_mb"),
            }
    print(
        f"{'what (a fresh process each, median of ' + str(args.repeats) + ')':76}"
        f"{'CPU ms':>10}{'RSS MB':>10}"
    )
    for name, figures in results.items():
        print(f"{name:76}{figures['cpu_s'] * 1000:10.1f}{figures['rss_mb']:10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
