"""``python -m devtools.soak``: a long soak run an operator can start (docs/reliability.md).

Starts its own Azurite and edgeHub emulator, trains and publishes three model versions with the
trainer's own code, runs the probed predictor under steady load with a model update every few
seconds, prints a sample line as it goes and the figures at the end, and writes every sample
to ``--out`` (JSON).

    PYTHONPATH=modules/predictor:modules/trainer:. .venv/bin/python -m devtools.soak \\
        --seconds 900 --warmup 120 --out soak.json [--env MALLOC_ARENA_MAX=2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path

from azure.storage.blob import BlobServiceClient

from devtools.azurite import start_azurite
from devtools.edgehub import EdgeHub, load_manifest
from devtools.soak.result import Plan
from devtools.soak.run import MODULE, REPO, soak
from trainer.build import build_model
from trainer.model_file import ModelFile
from trainer.publish import publish
from trainer.training import Hyperparameters

# Three models that differ (so every update is a real swap), as the IoT tests train them.
VERSIONS = {
    "20261125.100001": Hyperparameters(),
    "20261125.100002": Hyperparameters(c=10.0, kernel="linear"),
    "20261125.100003": Hyperparameters(c=3.0),
}


def positive(text: str) -> float:
    value = float(text)
    if not value > 0:  # also refuses NaN
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def parse_env(items: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"--env takes NAME=VALUE, not {item!r}")
        env[key] = value
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.soak", description=__doc__)
    parser.add_argument("--seconds", type=positive, default=900.0, help="load duration")
    parser.add_argument("--warmup", type=non_negative, default=120.0, help="not part of the trend")
    parser.add_argument("--rps", type=positive, default=20.0, help="HTTP requests per second")
    parser.add_argument("--mps", type=positive, default=10.0, help="telemetry messages per second")
    parser.add_argument("--update-every", type=positive, default=4.0, help="seconds per update")
    parser.add_argument("--sample-every", type=positive, default=5.0, help="seconds per sample")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the module")
    parser.add_argument("--out", type=Path, help="write the figures and samples here (JSON)")
    args = parser.parse_args(argv)
    try:
        env = parse_env(args.env)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    plan = Plan(
        seconds=args.seconds,
        warmup=args.warmup,
        requests_per_second=args.rps,
        messages_per_second=args.mps,
        update_every=args.update_every,
        sample_every=args.sample_every,
    )
    if plan.seconds <= plan.warmup + 2 * plan.sample_every:
        parser.error("--seconds must leave room for samples after --warmup")
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        work = Path(tmp)
        print("training and publishing the models...", flush=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            models = [build_model(params, "iris-svm", v) for v, params in VERSIONS.items()]
        azurite = start_azurite(work / "azurite")
        try:
            service = BlobServiceClient.from_connection_string(azurite.connection_string)
            targets = [
                publish(service, ModelFile(m.data, m.contract)).twin_patch()["model"]
                for m in models[1:] + models[:1]
            ]
            routes = load_manifest(REPO / "deployment.template.json").routes
            with EdgeHub(work / "edgehub", routes, modules=[MODULE, "sensor"]) as hub:
                result = soak(work / "module", hub, models[0].data, targets, plan, env, True)
        finally:
            azurite.stop()
    print(result.summary())
    if args.out is not None:
        args.out.write_text(json.dumps(result.record(), indent=1) + "\n")
        print(f"written to {args.out}")
    ok = not result.failures and not result.messages_lost
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
