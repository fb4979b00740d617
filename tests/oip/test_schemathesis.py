"""Schemathesis runs the official Open Inference Protocol REST document against a real predictor.

Every operation of the pinned document (tests/oip/open_inference_rest.yaml), with the allowances
tests/oip/documents.py makes and comments, is checked for server errors, documented statuses,
content types, response schemas and 405 answers to other methods; then each served model's
infer request, narrowed to what that model takes, must be accepted when valid and refused when
broken. Bounded examples and a fixed seed: the same cases on every run, in about a minute.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.oip.conftest import DEFAULT, MAX_ROWS, NAMED
from tests.oip.documents import general, narrowed
from tests.support.predictor_fixtures import V1
from tests.support.predictor_process import HOST, Predictor

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
SEED = "20261206"
EVERY_OPERATION = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "unsupported_method",
]
DATA = ["positive_data_acceptance", "negative_data_rejection"]
# A valid request is answered 200, or 422 when the model answers a far-out row with NaN or
# infinity (documents.INFER_ALLOWED); Schemathesis's default would also accept 404 and 5xx.
CONFIG = '[checks.positive_data_acceptance]\nexpected-statuses = ["200", "422"]\n'
MODELS = {DEFAULT: V1, NAMED: "7"}
OUTPUTS = ["label", "probabilities"]


def run(
    served: Predictor, folder: Path, document: dict[str, Any], checks: list[str], n: int
) -> str:
    """Schemathesis's CLI on ``document``; its whole report when any check fails."""
    (folder / "oip.yaml").write_text(yaml.safe_dump(document))
    (folder / "schemathesis.toml").write_text(CONFIG)
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        "schemathesis.toml",
        "run",
        "oip.yaml",
        "--url",
        f"http://{HOST}:{served.port}",
        "--checks",
        ",".join(checks),
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(n),
        "--seed",
        SEED,
        "--workers",
        "1",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        "events.ndjson",
    ]
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return (folder / "events.ndjson").read_text()


def test_every_operation_of_the_official_document(served: Predictor, tmp_path: Path) -> None:
    events = run(served, tmp_path, general(), EVERY_OPERATION, 30)
    # Unknown names got 404, other methods 405: the run reached every kind of answer.
    for status in (200, 404, 405):
        assert f'"status_code":{status}' in events


@pytest.mark.parametrize("name", [DEFAULT, NAMED])
def test_each_models_infer_accepts_valid_and_refuses_broken_requests(
    served: Predictor, tmp_path: Path, name: str
) -> None:
    document = narrowed(name, MODELS[name], OUTPUTS, width=4, max_rows=MAX_ROWS)
    events = run(served, tmp_path, document, EVERY_OPERATION + DATA, 60)
    assert events.count('"status_code":200') > 100  # valid requests reached the model
    assert '"status_code":400' in events  # and broken ones were refused
