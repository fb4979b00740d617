"""The command line: ``python -m trainer train|publish|run|convert|keygen|dataset``.

Results are JSON on stdout; every failure is one line on stderr (``trainer: error: ...``) and a
non-zero exit: 2 for bad usage, 3 for a model below ``--min-accuracy``, 1 for everything else.
The connection string never appears.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from trainer import commands, convert, dataset, signing
from trainer.cli_arguments import (
    add_device_argument,
    add_model_arguments,
    add_parity_arguments,
    add_publish_arguments,
    names,
)
from trainer.errors import UsageError, describe
from trainer.model_file import read_model_file
from trainer.publish_request import DeploymentRequest, PublishRequest
from trainer.settings import RunSettings, StorageSettings, load
from trainer.storage import CONNECTION_STRING_ENV, redact
from trainer.training import Hyperparameters

PROG = "trainer"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse would print the usage block too; one line is easier to read in a CI log.
        raise UsageError(message + f" (see {PROG} --help)")


def main(argv: Sequence[str] | None = None) -> int:
    # The Azure SDK logs retries as warnings; our one error line says what went wrong.
    logging.getLogger("azure").setLevel(logging.CRITICAL)
    try:
        args = _parser().parse_args(argv)
        result: dict[str, Any] = args.handler(args)
    except (Exception, KeyboardInterrupt) as exc:  # SystemExit (--help) goes on
        failure = describe(exc)
        return _fail(failure.message, status=failure.status)
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Train the iris classifier, verify it as ONNX and publish it to Blob Storage.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train, convert and verify; write the ONNX model")
    train.add_argument(
        "--output", "-o", metavar="FILE", type=Path, required=True, help="where to write the model"
    )
    add_model_arguments(train)
    train.add_argument(
        "--min-accuracy",
        metavar="FRACTION",
        type=float,
        help="refuse (exit 3, nothing written) a model whose held-out accuracy is below this",
    )
    train.add_argument(
        "--extra-data",
        metavar="CSV",
        type=Path,
        action="append",
        default=[],
        help="also train on these labelled rows (repeat): a CSV whose header names the "
        "features and label, as 'trainer dataset --labels' writes (see docs/capture.md)",
    )
    add_device_argument(train)
    train.set_defaults(handler=_train)

    pub = commands.add_parser(
        "publish",
        help="upload a model to Blob Storage and print the twin patch "
        f"(connection string from {CONNECTION_STRING_ENV})",
    )
    pub.add_argument("model", type=Path, help="an ONNX model made by 'trainer train'")
    add_publish_arguments(pub)
    add_device_argument(pub)
    pub.set_defaults(handler=_publish)

    run = commands.add_parser(
        "run", help="train then publish, configured by TRAINER_* environment variables"
    )
    run.add_argument(
        "--min-accuracy",
        metavar="FRACTION",
        type=float,
        help="as TRAINER_MIN_ACCURACY, which it overrides: refuse (exit 3, nothing published) "
        "a model whose held-out accuracy is below this",
    )
    run.set_defaults(handler=_run)

    keygen = commands.add_parser(
        "keygen",
        help="write a new Ed25519 key pair for signing models (see docs/reliability.md)",
    )
    keygen.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        required=True,
        help=f"folder for {signing.PRIVATE_FILE} (keep it secret) and {signing.PUBLIC_FILE}",
    )
    keygen.set_defaults(handler=_keygen)

    conv = commands.add_parser(
        "convert",
        help="convert your own fitted scikit-learn classifier, regressor or outlier detector "
        "(a joblib file) to a "
        "contract-bearing ONNX model; loading a pickle runs its code: convert only your own files",
    )
    conv.add_argument(
        "model",
        type=Path,
        help="a fitted model or pipeline saved with joblib (XGBoost, LightGBM too)",
    )
    conv.add_argument(
        "--output", "-o", metavar="FILE", type=Path, required=True, help="where to write the model"
    )
    conv.add_argument(
        "--samples",
        metavar="CSV",
        type=Path,
        help="sample rows for the parity gate (required): numbers, optionally a header line; "
        "with a header, columns of text give the model one typed input per column",
    )
    conv.add_argument(
        "--feature-names",
        metavar="A,B,...",
        type=names,
        help="the input columns, in order (required unless the model was fitted on a DataFrame)",
    )
    conv.add_argument(
        "--labels",
        metavar="X,Y,...",
        type=names,
        help="the class labels, checked against the model's classes_",
    )
    conv.add_argument(
        "--target-names",
        metavar="A,B,...",
        type=names,
        help="a regressor's value columns (default: value, or value_0,value_1,...)",
    )
    conv.add_argument("--name", help="model name (default: from the file name)")
    conv.add_argument("--version", help="model version (default: UTC time, 20261125.175209)")
    add_parity_arguments(conv, "sample row")
    add_device_argument(conv)
    conv.set_defaults(handler=_convert)

    dataset.add_parser(commands)
    return parser


def _train(args: argparse.Namespace) -> dict[str, Any]:
    return commands.train(
        Hyperparameters.of(args),
        args.name,
        args.version,
        args.output,
        parity_points=args.parity_points,
        parity_tolerance=args.parity_tolerance,
        min_accuracy=args.min_accuracy,
        device_runtime=args.device_runtime,
        extra_data=args.extra_data,
    )


def _publish(args: argparse.Namespace) -> dict[str, Any]:
    settings = load(StorageSettings)
    request = PublishRequest(
        container=args.container,
        overwrite=args.overwrite,
        sas_days=args.sas_days,
        twin_patch=args.twin_patch,
        deployment=DeploymentRequest.from_options(
            args.layered_deployment, args.target_condition, args.priority, args.module
        ),
        storage=settings.options(),
        signing_key=args.signing_key or settings.signing_key,
        device_runtime=args.device_runtime,
        pointer=args.pointer,
        shadow=args.shadow,
        promote=_promotion(args),
    )
    return commands.publish(read_model_file(args.model), settings.secret(), request).summary


def _promotion(args: argparse.Namespace) -> tuple[int, float] | None:
    rows, agreement = args.promote_min_rows, args.promote_min_agreement
    if rows is None and agreement is None:
        return None
    if rows is None or agreement is None:
        raise ValueError("give both --promote-min-rows and --promote-min-agreement")
    return rows, agreement


def _keygen(args: argparse.Namespace) -> dict[str, Any]:
    pair = signing.generate(args.out)
    return {
        "private_key": str(pair.private),
        "public_key": str(pair.public),
        "PREDICTOR_MODEL_PUBLIC_KEY": pair.public_base64,
    }


def _run(args: argparse.Namespace) -> dict[str, Any]:
    settings = load(RunSettings)
    if args.min_accuracy is not None:
        settings = settings.model_copy(update={"min_accuracy": args.min_accuracy})
    return commands.run(settings)


def _convert(args: argparse.Namespace) -> dict[str, Any]:
    return convert.convert(
        args.model,
        args.output,
        name=args.name,
        version=args.version,
        feature_names=args.feature_names,
        class_labels=args.labels,
        target_names=args.target_names,
        samples=args.samples,
        parity_points=args.parity_points,
        parity_tolerance=args.parity_tolerance,
        device_runtime=args.device_runtime,
    )


def _fail(message: str, status: int = 1) -> int:
    secret = os.environ.get(CONNECTION_STRING_ENV)
    one_line = " ".join(redact(message, secret).split())
    print(f"{PROG}: error: {one_line}", file=sys.stderr)
    return status
