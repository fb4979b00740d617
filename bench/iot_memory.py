"""``python -m bench.iot_memory``: the memory of the predictor as an IoT Edge module.

In the edgeHub emulator (as ``python -m bench --iot-only`` runs it), a fresh predictor takes a
few hundred messages and then its RSS is read, split into anonymous and file-backed memory;
with ``--env NAME=VALUE`` the same again with that in its environment (the variants alternate
within each round). The pass-through module, on the same SDK, is measured beside it: what the
SDK and the interpreter cost without the model runtime.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
from pathlib import Path

from bench import message_path
from bench.edge_rig import PASSTHROUGH, PREDICTOR, edge_rig


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.iot_memory", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--hub-cpus", default="0")
    parser.add_argument("--module-cpus", default="1")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    variants: dict[str, dict[str, str]] = {"predictor": {}}
    for spec in args.env:
        name, _, value = spec.partition("=")
        variants[f"predictor {spec}"] = {name: value}
    figures: dict[str, list[dict[str, float]]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="iot-memory-") as work,
        edge_rig(Path(work), args.hub_cpus, args.module_cpus) as rig,
    ):
        for _ in range(args.rounds):
            for name, env in [*variants.items(), (PASSTHROUGH, {})]:
                if name == PASSTHROUGH:
                    server, module = rig.start_passthrough(), PASSTHROUGH
                else:
                    server, module = rig.start_predictor("predictor", None, **env), PREDICTOR
                try:
                    message_path.run(rig.hub, module, server, args.messages)
                    figures.setdefault(name, []).append(server.memory_mb())
                finally:
                    server.stop()
    print(f"IoT Edge module memory after {args.messages} messages (median of {args.rounds}, MB)")
    print(f"{'module':44}{'RSS':>8}{'anonymous':>11}{'file-backed':>13}")
    for name, rows in figures.items():
        cells = [statistics.median(row[key] for row in rows) for key in ("rss", "anon", "file")]
        print(
            f"{name:44}" + "".join(f"{v:{w}.1f}" for v, w in zip(cells, (8, 11, 13), strict=True))
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
