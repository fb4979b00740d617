"""``trainer dataset``: the captured rows of a model (docs/capture.md) to CSV or Parquet.

Kept apart from cli.py: the command adds its parser and handler through ``add_parser``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from trainer import capture, capture_blobs, capture_contract, capture_rows, dataset_labels, labels
from trainer.model_file import read_model_file
from trainer.publish import DEFAULT_CONTAINER
from trainer.settings import StorageSettings, load
from trainer.storage import CONNECTION_STRING_ENV


def add_parser(commands: Any) -> None:
    """Add ``dataset`` to the CLI's subcommands (an argparse subparsers action)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "dataset",
        help="read the rows devices captured for a model from Blob Storage into CSV or Parquet "
        f"(connection string from {CONNECTION_STRING_ENV}, or --container-url; docs/capture.md)",
    )
    parser.add_argument("name", help="the model's name, as in the blob names model=<name>/...")
    parser.add_argument(
        "--out",
        metavar="FILE",
        type=Path,
        help="write the rows here: .csv, or .parquet (with the contract's column types)",
    )
    parser.add_argument(
        "--model",
        metavar="FILE",
        type=Path,
        help="the ONNX model whose contract types the columns (default: the model published "
        "last in --models-container: <name>/latest.json, else the newest <name>/*.onnx)",
    )
    parser.add_argument(
        "--models-container",
        metavar="NAME",
        help="where the model is published, when not in --container (with the connection string)",
    )
    parser.add_argument(
        "--container",
        metavar="NAME",
        default=DEFAULT_CONTAINER,
        help="the container the devices upload to (default %(default)s)",
    )
    parser.add_argument(
        "--container-url",
        metavar="URL",
        help="instead of the connection string: the container's URL with a SAS that may read "
        "and list (sp=rl)",
    )
    parser.add_argument("--since", metavar="YYYY-MM-DD", type=_day, help="first UTC day read")
    parser.add_argument(
        "--until", metavar="YYYY-MM-DD", type=_day, help="last UTC day read (default: today)"
    )
    parser.add_argument(
        "--device", action="append", default=[], metavar="ID", help="only this device (repeat)"
    )
    parser.add_argument(
        "--trigger",
        action="append",
        default=[],
        choices=capture_blobs.TRIGGERS,
        help="only rows one of these triggers captured (repeat)",
    )
    parser.add_argument(
        "--model-version",
        dest="versions",
        action="append",
        default=[],
        metavar="VERSION",
        help="only rows this model version answered (repeat)",
    )
    dataset_labels.add_arguments(parser)
    parser.set_defaults(handler=run)


def _day(text: str) -> Any:
    try:
        return capture_blobs.parse_day(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.out is not None:
        capture.check_output(args.out)
    filters = capture_blobs.Filters(
        since=dataset_labels.since(args),
        until=args.until,
        devices=tuple(args.device),
        triggers=tuple(args.trigger),
        versions=tuple(args.versions),
    )
    settings = load(StorageSettings)
    wanted = dataset_labels.labels_of(
        args,
        lambda name: capture_contract.container_client(
            name, settings.secret(), None, settings.options()
        ),
    )
    client = capture_contract.container_client(
        args.container, settings.secret(), args.container_url, settings.options()
    )
    if args.model is not None:
        contract, source = read_model_file(args.model).contract, str(args.model)
    else:
        models = client
        if args.models_container is not None:
            models = capture_contract.container_client(
                args.models_container, settings.secret(), None, settings.options()
            )
        contract, source = capture_contract.latest_contract(models, args.name)
    captured = capture.read(client, args.name, contract, filters)
    frame, labelled = captured.frame, None
    if wanted is not None:
        labelled = labels.join(frame, wanted, list(capture_rows.feature_types(contract)))
        frame = labelled.frame
    if args.out is not None:
        capture.write(frame, args.out, contract)
    return {
        "model": args.name,
        "contract": {"from": source, "version": contract.model_version},
        **captured.summary(),
        **({} if labelled is None else {"labelled": labelled.summary()}),
        "out": None if args.out is None else str(args.out),
    }
