"""The command line: ``python -m trainer train|publish|run``.

Results are JSON on stdout; every failure is one line on stderr (``trainer: error: ...``) and a
non-zero exit: 2 for bad usage, 1 for everything else. The connection string never appears.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, NoReturn

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
)

from trainer import parity
from trainer.build import build_model
from trainer.contract import ContractError
from trainer.deployment import (
    DEFAULT_MODULE,
    DEFAULT_PRIORITY,
    LayeredDeployment,
    deployment_id_for,
)
from trainer.errors import TrainerError
from trainer.files import write_atomic
from trainer.model_file import ModelFile, check_model_bytes, read_model_file
from trainer.naming import DEFAULT_NAME, check_name, check_version, default_version
from trainer.publish import (
    DEFAULT_CONTAINER,
    DEFAULT_SAS_DAYS,
    check_container_name,
    check_sas_days,
    publish,
)
from trainer.settings import RunSettings, StorageSettings, load
from trainer.storage import CONNECTION_STRING_ENV, StorageOptions, connect, redact
from trainer.training import KERNELS, Hyperparameters, parse_gamma

PROG = "trainer"


class UsageError(Exception):
    """Bad command-line usage (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse would print the usage block too; one line is easier to read in a CI log.
        raise UsageError(message)


def main(argv: Sequence[str] | None = None) -> int:
    # The Azure SDK logs retries as warnings; our one error line says what went wrong.
    logging.getLogger("azure").setLevel(logging.CRITICAL)
    try:
        args = _parser().parse_args(argv)
        result: dict[str, Any] = args.handler(args)
    except UsageError as exc:
        return _fail(f"{exc} (see {PROG} --help)", status=2)
    except KeyboardInterrupt:
        return _fail("interrupted", status=130)
    except (TrainerError, ContractError, ValueError) as exc:
        return _fail(str(exc))
    except ServiceRequestError as exc:
        return _fail(f"cannot reach the storage account: {_first_line(exc)}")
    except ClientAuthenticationError as exc:
        return _fail(f"the storage account refused the credentials: {_first_line(exc)}")
    except HttpResponseError as exc:
        if exc.status_code == 403:
            return _fail(f"the storage account refused the credentials: {_first_line(exc)}")
        return _fail(f"storage request failed (HTTP {exc.status_code}): {_first_line(exc)}")
    except AzureError as exc:
        return _fail(f"storage error: {_first_line(exc)}")
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        return _fail(f"{exc.strerror or exc}{where}")
    except Exception as exc:  # Never a traceback: say what it was in one line.
        return _fail(f"unexpected {type(exc).__name__}: {_first_line(exc)}")
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
    train.set_defaults(handler=_train)

    pub = commands.add_parser(
        "publish",
        help="upload a model to Blob Storage and print the twin patch "
        f"(connection string from {CONNECTION_STRING_ENV})",
    )
    pub.add_argument("model", type=Path, help="an ONNX model made by 'trainer train'")
    _add_publish_arguments(pub)
    pub.set_defaults(handler=_publish)

    run = commands.add_parser(
        "run", help="train then publish, configured by TRAINER_* environment variables"
    )
    run.set_defaults(handler=_run)
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
    parser.add_argument(
        "--parity-points",
        metavar="N",
        type=int,
        default=parity.RANDOM_POINTS,
        help="random points the parity gate checks besides every iris row (default %(default)s)",
    )
    parser.add_argument(
        "--parity-tolerance",
        metavar="P",
        type=float,
        default=parity.TOLERANCE,
        help="largest allowed probability difference; can only be tightened "
        f"(default and maximum {parity.TOLERANCE:g})",
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


def _train(args: argparse.Namespace) -> dict[str, Any]:
    params = Hyperparameters(
        c=args.c,
        gamma=args.gamma,
        kernel=args.kernel,
        seed=args.seed,
        test_size=args.test_size,
        cv_folds=args.cv_folds,
    )
    _check_parent(args.output)
    built = build_model(
        params,
        args.name,
        args.version or default_version(),
        parity_points=args.parity_points,
        parity_tolerance=args.parity_tolerance,
    )
    write_atomic(args.output, built.data)
    return {**built.summary(), "hyperparameters": asdict(params), "output": str(args.output)}


def _publish(args: argparse.Namespace) -> dict[str, Any]:
    check_container_name(args.container)
    check_sas_days(args.sas_days)
    deployment = _deployment_request(args.layered_deployment, args.target_condition)
    model = read_model_file(args.model)
    settings = load(StorageSettings)
    return _publish_model(
        model,
        settings.secret(),
        settings.options(),
        container=args.container,
        overwrite=args.overwrite,
        sas_days=args.sas_days,
        twin_patch=args.twin_patch,
        deployment=deployment,
        priority=args.priority,
        module=args.module,
    )


def _run(args: argparse.Namespace) -> dict[str, Any]:
    settings = load(RunSettings)
    version = check_version(settings.version or default_version())
    check_name(settings.name)
    check_container_name(settings.container)
    check_sas_days(settings.sas_days)
    deployment = _deployment_request(settings.layered_deployment, settings.target_condition)
    if deployment is not None:  # fail on a bad deployment setting before training, not after
        _layered(settings.name, version, deployment, settings.priority, settings.module)
    connect(settings.secret(), settings.options())  # checks the connection string up front
    if settings.output is not None:
        _check_parent(settings.output)
    params = Hyperparameters(
        c=settings.c,
        gamma=parse_gamma(settings.gamma),
        kernel=settings.kernel,
        seed=settings.seed,
        test_size=settings.test_size,
        cv_folds=settings.cv_folds,
    )
    built = build_model(params, settings.name, version, parity_points=settings.parity_points)
    if settings.output is not None:
        write_atomic(settings.output, built.data)
    published = _publish_model(
        check_model_bytes(built.data),
        settings.secret(),
        settings.options(),
        container=settings.container,
        overwrite=settings.overwrite,
        sas_days=settings.sas_days,
        twin_patch=settings.twin_patch,
        deployment=deployment,
        priority=settings.priority,
        module=settings.module,
    )
    return {"trained": {**built.summary(), "hyperparameters": asdict(params)}, **published}


def _publish_model(
    model: ModelFile,
    connection_string: str | None,
    options: StorageOptions,
    *,
    container: str,
    overwrite: bool,
    sas_days: int,
    twin_patch: Path | None,
    deployment: tuple[Path, str] | None,
    priority: int,
    module: str,
) -> dict[str, Any]:
    name, version = model.contract.model_name, model.contract.model_version
    layered = None
    if deployment is not None:  # checked before the upload, written after it
        layered = _layered(name, version, deployment, priority, module)
    for path in (twin_patch, deployment[0] if deployment else None):
        if path is not None:
            _check_parent(path)
    service = connect(connection_string, options)
    published = publish(service, model, container, overwrite=overwrite, sas_days=sas_days)
    result = published.summary()
    patch = published.twin_patch()
    if twin_patch is not None:
        write_atomic(twin_patch, _json_bytes(patch))
        result["twin_patch_file"] = str(twin_patch)
    if layered is not None and deployment is not None:
        labels = {"model": name, "modelVersion": version}
        write_atomic(deployment[0], _json_bytes(layered.document(patch, labels)))
        result["layered_deployment"] = {
            "file": str(deployment[0]),
            "id": layered.deployment_id,
            "target_condition": layered.target_condition,
            "priority": layered.priority,
            "module": layered.module,
            "az_command": layered.az_command(deployment[0]),
        }
    return result


def _deployment_request(path: Path | None, condition: str | None) -> tuple[Path, str] | None:
    if path is None and condition is None:
        return None
    if path is None:
        raise UsageError("--target-condition needs --layered-deployment FILE")
    if condition is None:
        raise UsageError("--layered-deployment needs --target-condition")
    return path, condition


def _layered(
    name: str, version: str, deployment: tuple[Path, str], priority: int, module: str
) -> LayeredDeployment:
    return LayeredDeployment(
        deployment_id=deployment_id_for(name, version),
        target_condition=deployment[1],
        priority=priority,
        module=module,
    )


def _check_parent(path: Path) -> None:
    """Fail before the work, not after it, when an output cannot be written."""
    parent = path.parent if str(path.parent) else Path()
    if path.is_dir():
        raise TrainerError(f"{path} is a directory, not a file")
    if not parent.is_dir():
        raise TrainerError(f"cannot write {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise TrainerError(f"cannot write {path}: the folder {parent} is not writable")


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _fail(message: str, status: int = 1) -> int:
    secret = os.environ.get(CONNECTION_STRING_ENV)
    one_line = " ".join(redact(message, secret).split())
    print(f"{PROG}: error: {one_line}", file=sys.stderr)
    return status
