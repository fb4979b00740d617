"""The arguments the command line's commands share: the model's, the parity check's, the device's
and publishing's, and the types that parse them (``cli.py`` builds the parser)."""

from __future__ import annotations

import argparse
from pathlib import Path

from trainer import device, parity_points, parity_report
from trainer.deployment import DEFAULT_MODULE, DEFAULT_PRIORITY
from trainer.naming import DEFAULT_NAME
from trainer.publish import DEFAULT_CONTAINER, DEFAULT_SAS_DAYS
from trainer.training import KERNELS, parse_gamma


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default=DEFAULT_NAME, help="model name (default %(default)s)")
    parser.add_argument("--version", help="model version (default: UTC time, 20261125.175209)")
    parser.add_argument(
        "--C", dest="c", metavar="C", type=float, default=1.0, help="SVM regularisation (default 1)"
    )
    parser.add_argument(
        "--gamma",
        type=gamma,
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
    add_parity_arguments(parser, "iris row")


def add_parity_arguments(parser: argparse.ArgumentParser, rows: str) -> None:
    parser.add_argument(
        "--parity-points",
        metavar="N",
        type=int,
        default=parity_points.RANDOM_POINTS,
        help=f"random points the parity gate checks besides every {rows} (default %(default)s)",
    )
    parser.add_argument(
        "--parity-tolerance",
        metavar="P",
        type=float,
        default=parity_report.TOLERANCE,
        help="allowed difference, as a fraction of the output's scale plus of the value "
        f"(default {parity_report.TOLERANCE:g}; at most {parity_report.MAX_TOLERANCE:g}, "
        "beyond which a difference is not float32's rounding)",
    )


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device-runtime",
        metavar="VERSION",
        default=device.PREDICTOR_RUNTIME,
        help="the devices' ONNX Runtime, e.g. 1.20: refuse a model whose IR version or opsets "
        "it cannot load (default: the predictor's, %(default)s)",
    )


def add_publish_arguments(parser: argparse.ArgumentParser) -> None:
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


def gamma(text: str) -> str | float:
    try:
        return parse_gamma(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def names(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated names, not {text!r}")
    return names
