"""Run the edgeHub emulator for the demo: ``python -m devtools.edgehub --manifest M --state-dir D``

Prints one JSON line on stdout once everything is ready: the control API's URL and, for each
module, the environment that ``IoTHubModuleClient.create_from_edge_environment()`` needs (also
written to ``<state-dir>/env/<module>.env``). Runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from aiohttp import web

from devtools.edgehub.control import make_app
from devtools.edgehub.hub import DEFAULT_DEVICE, EdgeHub
from devtools.edgehub.inputs import DEFAULT_TIME_TO_LIVE
from devtools.edgehub.routes import RouteError, load_manifest, parse_routes
from devtools.ports import free_port

log = logging.getLogger("devtools.edgehub")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.edgehub", description=__doc__)
    parser.add_argument("--manifest", type=Path, help="deployment manifest or template (routes)")
    parser.add_argument(
        "--route",
        action="append",
        default=[],
        help="a route, instead of or on top of the manifest's",
    )
    parser.add_argument(
        "--module",
        action="append",
        default=[],
        help="a module that may connect (also taken from routes and the manifest)",
    )
    parser.add_argument("--device", default=DEFAULT_DEVICE, help="the edge device's id")
    parser.add_argument(
        "--state-dir", type=Path, required=True, help="certificates, broker data, env files"
    )
    parser.add_argument(
        "--upstream-file", type=Path, help="also append $upstream messages here (JSON lines)"
    )
    parser.add_argument(
        "--control-port", type=int, default=0, help="HTTP API port on 127.0.0.1 (0: a free one)"
    )
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def _write_env_files(hub: EdgeHub, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for _, module in hub.modules:
        lines = [f"{key}={value}" for key, value in hub.module_env(module).items()]
        (folder / f"{module}.env").write_text("\n".join(lines) + "\n", encoding="utf-8")


async def _serve(hub: EdgeHub, port: int) -> None:
    runner = web.AppRunner(make_app(hub))
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready = {
            "control": f"http://127.0.0.1:{port}",
            "modules": {module: hub.module_env(module) for _, module in hub.modules},
        }
        print(json.dumps(ready), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        log.info("stopping")
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        routes = list(parse_routes(args.route))
        modules = list(args.module)
        time_to_live = DEFAULT_TIME_TO_LIVE
        if args.manifest is not None:
            manifest = load_manifest(args.manifest)
            routes += manifest.routes
            modules += manifest.modules
            time_to_live = manifest.time_to_live or time_to_live
        hub = EdgeHub(
            args.state_dir, routes, modules, args.device, args.upstream_file, time_to_live
        )
    except (RouteError, ValueError) as error:
        print(f"edgehub: {error}", file=sys.stderr)
        return 2
    port = args.control_port or free_port("127.0.0.1")
    try:
        hub.open()
    except (OSError, RuntimeError, TimeoutError) as error:
        print(f"edgehub: cannot start: {error}", file=sys.stderr)
        return 1
    try:
        _write_env_files(hub, args.state_dir / "env")
        asyncio.run(_serve(hub, port))
    finally:
        hub.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
