"""The contract package's JSON Schemas say what a device takes: what the trainer writes
validates, and a value the device refuses, the schema refuses too (and the other way round)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from modelcontract import PointerDocument, PointerFormatError, read_pointer
from modelcontract.schemas import SCHEMAS, schema
from predictor.capture.config import CaptureConfigError
from predictor.capture.config import parse as parse_capture
from predictor.iot.shadow_control import Promotion
from predictor.models.registry import ModelNameError, check_name
from predictor.storage.target import TargetError, parse_target
from trainer.commands import shadow_patch

SHA = "ab" * 32
URL = "https://acct.blob.core.windows.net/models/m/1.onnx?sv=x"
TARGET = {"url": URL, "sha256": SHA, "version": "1.2.0"}
REGISTRY: Registry[Any] = Registry().with_resources(
    (f"urn:modelcontract:{name}", Resource.from_contents(schema(name))) for name in SCHEMAS
)


def valid(name: str, value: Any) -> bool:
    return Draft202012Validator(schema(name), registry=REGISTRY).is_valid(value)


def test_every_schema_is_a_valid_json_schema() -> None:
    for name in SCHEMAS:
        Draft202012Validator.check_schema(schema(name))
    with pytest.raises(ValueError, match="no schema 'models2'"):
        schema("models2")


def device_takes_target(value: Any) -> bool:
    try:
        parse_target(value, allow_http=True)
    except TargetError:
        return False
    return True


TARGETS = [
    TARGET,
    {**TARGET, "signature": "c2lnbmF0dXJl"},
    {**TARGET, "signature": None},
    {**TARGET, "sha256": SHA.upper()},
    {**TARGET, "url": "http://192.168.1.5:10000/devstoreaccount1/models/m.onnx"},
    {**TARGET, "extra": 1},  # unknown keys are ignored
    {"url": URL, "sha256": SHA},
    {**TARGET, "sha256": SHA[:-1]},
    {**TARGET, "sha256": 5},
    {**TARGET, "version": "-1"},
    {**TARGET, "version": "1" * 129},
    {**TARGET, "url": "ftp://host/m.onnx"},
    {**TARGET, "url": "https://"},
    {**TARGET, "signature": "x" * 201},
    {**TARGET, "signature": 7},
    "not an object",
    [TARGET],
]


@pytest.mark.parametrize("value", TARGETS, ids=range(len(TARGETS)))
def test_the_model_schema_takes_what_the_device_takes(value: Any) -> None:
    assert valid("model", value) == device_takes_target(value)


def device_takes_entry(name: str, value: Any, *, shadow: bool) -> bool:
    try:
        check_name(name)
        if value is not None:
            parse_target(value, allow_http=True)
            if shadow:
                Promotion.parse(value.get("promote"))
    except (TargetError, ModelNameError):
        return False
    return True


ENTRIES = [
    ("iris-svm", TARGET),
    ("iris.v2", None),
    ("a" * 64, TARGET),
    ("a" * 65, TARGET),
    ("-lead", TARGET),
    ("sp ace", TARGET),
    ("..", TARGET),
    ("rul", {**TARGET, "version": ""}),
    ("rul", {**TARGET, "promote": {"min_rows": 10, "min_agreement": 0.9}}),
    ("rul", {**TARGET, "promote": None}),
    ("rul", {**TARGET, "promote": {"min_rows": 0, "min_agreement": 0.9}}),
    ("rul", {**TARGET, "promote": {"min_rows": 10, "min_agreement": 1.5}}),
    ("rul", {**TARGET, "promote": {"min_rows": 10}}),
    ("rul", {**TARGET, "promote": "soon"}),
]


@pytest.mark.parametrize(("name", "value"), ENTRIES, ids=range(len(ENTRIES)))
def test_the_shadow_and_models_schemas_take_what_the_device_takes(name: str, value: Any) -> None:
    assert valid("shadow", {name: value}) == device_takes_entry(name, value, shadow=True)
    if value is None or "promote" not in value:
        assert valid("models", {name: value}) == device_takes_entry(name, value, shadow=False)


def test_what_the_trainer_writes_validates() -> None:
    patch = shadow_patch({"model": dict(TARGET)}, "iris-svm", (5000, 0.98))
    assert valid("shadow", patch["shadow"])
    assert valid("model", TARGET)
    document = PointerDocument(blob="iris-svm/1.2.0.onnx", sha256=SHA, version="1.2.0")
    assert valid("pointer", document.to_json())
    signed = PointerDocument("iris-svm/1.2.0.onnx", SHA, "1.2.0", signature="c2ln")
    assert read_pointer(signed.encode()) == signed


POINTERS: list[tuple[Any, bool]] = [
    ({"blob": "m/1.onnx", "sha256": SHA, "version": "1"}, True),
    ({"blob": "m/../1.onnx", "sha256": SHA, "version": "1"}, False),
    ({"blob": "/m/1.onnx", "sha256": SHA, "version": "1"}, False),
    ({"blob": "m//1.onnx", "sha256": SHA, "version": "1"}, False),
    ({"blob": "m/1.onnx?x", "sha256": SHA, "version": "1"}, False),
    ({"blob": "m\\1.onnx", "sha256": SHA, "version": "1"}, False),
    ({"blob": "m/\n.onnx", "sha256": SHA, "version": "1"}, False),
    ({"blob": "", "sha256": SHA, "version": "1"}, False),
    ({"sha256": SHA, "version": "1"}, False),
]


@pytest.mark.parametrize(("document", "blob_ok"), POINTERS, ids=range(len(POINTERS)))
def test_the_pointer_schema_refuses_the_blob_names_the_device_refuses(
    document: Any, blob_ok: bool
) -> None:
    assert valid("pointer", document) == blob_ok
    if blob_ok:
        assert read_pointer(PointerDocument(**document).encode()).blob == document["blob"]
    else:
        with pytest.raises(PointerFormatError):
            read_pointer(json.dumps(document).encode())


def device_takes_capture(name: str, value: Any) -> bool:
    try:
        check_name(name)
        if value is not None:
            parse_capture(value, allow_http=True)
    except (ModelNameError, CaptureConfigError):
        return False
    return True


CAPTURES: list[tuple[str, Any]] = [
    ("iris-svm", None),
    ("iris-svm", {}),
    (
        "iris-svm",
        {
            "sample": 0.01,
            "when": ["drift", "lowConfidence", "shadowDisagree", "outlier"],
            "lowConfidence": 0.6,
            "maxRowsPerHour": 5000,
            "redact": ["operator_id"],
            "url": URL,
            "$meta": 1,
        },
    ),
    ("rul", {"sample": 1}),
    ("rul", {"sample": 1.01}),
    ("rul", {"sample": -0.1}),
    ("rul", {"sample": True}),
    ("rul", {"sample": "0.1"}),
    ("rul", {"when": ["always"]}),
    ("rul", {"when": ["sample"]}),
    ("rul", {"when": "drift"}),
    ("rul", {"lowConfidence": 2}),
    ("rul", {"maxRowsPerHour": -1}),
    ("rul", {"maxRowsPerHour": 1000001}),
    ("rul", {"redact": [""]}),
    ("rul", {"redact": ["a\nb"]}),
    ("rul", {"redact": ["x"] * 257}),
    ("rul", {"redact": [1]}),
    ("rul", {"url": "ftp://host/c"}),
    ("rul", {"url": "http://127.0.0.1:10000/devstoreaccount1/captured?sig=x"}),
    ("rul", {"samples": 0.1}),
    ("rul", []),
    ("-lead", {}),
]


@pytest.mark.parametrize(("name", "value"), CAPTURES, ids=range(len(CAPTURES)))
def test_the_capture_schema_takes_what_the_device_takes(name: str, value: Any) -> None:
    assert valid("capture", {name: value}) == device_takes_capture(name, value)
