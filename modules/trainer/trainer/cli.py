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

from trainer import commands, convert, dataset, device, parity, signing
from trainer.commands import DeploymentRequest, PublishRequest
from trainer.deployment import DEFAULT_MODULE, DEFAULT_PRIORITY
from trainer.errors import UsageError, describe
from trainer.model_file import read_model_file
from trainer.naming import DEFAULT_NAME
from trainer.publish import DEFAULT_CONTAINER, DEFAULT_SAS_DAYS
from trainer.settings import RunSettings, StorageSettings, load
from trainer.storage import CONNECTION_STRING_ENV, redact
from trainer.training import KERNELS, Hyperparameters, parse_gamma

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
    _add_model_arguments(train)
    train.add_argument(
        "--min-accuracy",
        metavar="FRACTION",
        type=float,
        help="refuse (exit 3, nothing written) a model whose held-out accuracy is below this",
    )
    _add_device_argument(train)
    train.set_defaults(handler=_train)

    pub = commands.add_parser(
        "publish",
        help="upload a model to Blob Storage and print the twin patch "
        f"(connection string from {CONNECTION_STRING_ENV})",
    )
    pub.add_argument("model", type=Path, help="an ONNX model made by 'trainer train'")
    _add_publish_arguments(pub)
    _add_device_argument(pub)
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
        type=_names,
        help="the input columns, in order (required unless the model was fitted on a DataFrame)",
    )
    conv.add_argument(
        "--labels",
        metavar="X,Y,...",
        type=_names,
        help="the class labels, checked against the model's classes_",
    )
    conv.add_argument(
        "--target-names",
        metavar="A,B,...",
        type=_names,
        help="a regressor's value columns (default: value, or value_0,value_1,...)",
    )
    conv.add_argument("--name", help="model name (default: from the file name)")
    conv.add_argument("--version", help="model version (default: UTC time, 20261125.175209)")
    _add_parity_arguments(conv, "sample row")
    _add_device_argument(conv)
    conv.set_defaults(handler=_convert)

    dataset.add_parser(commands)
    return parser


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default=DEFAULT_NAME, help="model name (default %(default)s)")
    parser.add_argument("--version", help="model version (default: UTC time, 20261125.175209)")
    parser.add_argument(
        "--C", dest="c", metavar="C", type=float, default=1.0, help="SVM regularisation (default 1)"
    )
    parser.add_argument(
        "--gamma",
        type=_gamma,
        default="scale",
        help="RBF/poly/sigmoid kernel coefficient: scale, auto or a positive number "
        "(default %(default)s)",
    )
    parser.add_argument("--kernel", default="rbf", choices=KERNELS, help="(default %(default)s)")
    parser.add_argument(
        "--seed", metavar="N", type=int, default=42, help="seed of split, SVM and parity points"
    )
    parser.add_argument(
        "--test-size",
        metavar="FRACTION",
        type=float,
        default=0.2,
        help="held-out fraction, 0.05 to 0.5 (default %(default)s)",
    )
    parser.add_argument(
        "--cv-folds", metavar="N", type=int, default=5, help="cross-validation folds (default 5)"
    )
    _add_parity_arguments(parser, "iris row")


def _add_parity_arguments(parser: argparse.ArgumentParser, rows: str) -> None:
    parser.add_argument(
        "--parity-points",
        metavar="N",
        type=int,
        default=parity.RANDOM_POINTS,
        help=f"random points the parity gate checks besides every {rows} (default %(default)s)",
    )
    parser.add_argument(
        "--parity-tolerance",
        metavar="P",
        type=float,
        default=parity.TOLERANCE,
        help="allowed difference, as a fraction of the output's scale plus of the value "
        f"(default {parity.TOLERANCE:g}; at most {parity.MAX_TOLERANCE:g}, "
        "beyond which a difference is not float32's rounding)",
    )


def _add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device-runtime",
        metavar="VERSION",
        default=device.PREDICTOR_RUNTIME,
        help="the devices' ONNX Runtime, e.g. 1.20: refuse a model whose IR version or opsets "
        "it cannot load (default: the predictor's, %(default)s)",
    )


def _add_publish_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--container",
        metavar="NAME",
        default=DEFAULT_CONTAINER,
        help="blob container, created if missing (default %(default)s)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing version")
    parser.add_argument(
        "--signing-key",
        metavar="FILE",
        type=Path,
        help="Ed25519 private key from 'trainer keygen': the twin patch carries the model's "
        "signature (default: TRAINER_SIGNING_KEY)",
    )
    parser.add_argument(
        "--sas-days",
        metavar="DAYS",
        type=int,
        default=DEFAULT_SAS_DAYS,
        help="lifetime of the devices' read-only URL (default %(default)s days)",
    )
    parser.add_argument(
        "--twin-patch", metavar="FILE", type=Path, help="also write the twin patch to FILE"
    )
    parser.add_argument(
        "--pointer",
        action="store_true",
        help="also point <name>/latest.json at this version and print its URL, with a "
        "read-only container SAS, for PREDICTOR_MODEL_URL (see docs/trainer.md)",
    )
    parser.add_argument(
        "--shadow",
        action="store_true",
        help="publish as a shadow of the served model of the same name: the patch (and the "
        "layered deployment) set desired shadow.<name>, which devices compare with the live "
        "model before it is promoted (see docs/predictor.md)",
    )
    parser.add_argument(
        "--promote-min-rows",
        type=int,
        metavar="N",
        help="with --shadow: promote it once compared on N rows (with --promote-min-agreement)",
    )
    parser.add_argument(
        "--promote-min-agreement",
        type=float,
        metavar="X",
        help="with --shadow: the share of rows (0 to 1) on which it must agree to be promoted",
    )
    parser.add_argument(
        "--layered-deployment",
        metavar="FILE",
        type=Path,
        help="also write an IoT Edge layered deployment that sets the patch (see docs/trainer.md)",
    )
    parser.add_argument(
        "--target-condition",
        metavar="CONDITION",
        help="devices the layered deployment targets, e.g. \"tags.ring='canary'\"",
    )
    parser.add_argument(
        "--priority",
        metavar="N",
        type=int,
        default=DEFAULT_PRIORITY,
        help="layered deployment priority; the highest wins (default %(default)s)",
    )
    parser.add_argument(
        "--module",
        metavar="NAME",
        default=DEFAULT_MODULE,
        help="the predictor module's name in the deployment (default %(default)s)",
    )


def _gamma(text: str) -> str | float:
    try:
        return parse_gamma(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _names(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated names, not {text!r}")
    return names


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
