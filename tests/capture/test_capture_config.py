"""The twin's desired ``capture.<name>``: every field checked, a clear error, no SAS in it."""

from __future__ import annotations

from typing import Any

import pytest

from predictor.capture.config import CaptureConfig, CaptureConfigError, parse

SAS = "https://acct.blob.core.windows.net/captured?sv=2024&sp=cw&sig=SECRET"


def test_the_issue_example_parses() -> None:
    config = parse(
        {
            "sample": 0.01,
            "when": ["drift", "lowConfidence", "shadowDisagree", "outlier"],
            "lowConfidence": 0.6,
            "maxRowsPerHour": 5000,
            "redact": ["operator_id"],
            "url": SAS,
        }
    )
    assert config == CaptureConfig(
        sample=0.01,
        when=frozenset({"drift", "lowConfidence", "shadowDisagree", "outlier"}),
        low_confidence=0.6,
        max_rows_per_hour=5000,
        redact=frozenset({"operator_id"}),
        url=SAS,
    )
    assert config.safe_url == "https://acct.blob.core.windows.net/captured"


def test_defaults_capture_nothing() -> None:
    assert parse({}) == CaptureConfig()


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ([], "must be an object"),
        ({"sample": 1.5}, "sample must be from 0 to 1"),
        ({"sample": True}, "sample must be a number"),
        ({"sample": float("nan")}, "sample must be a number"),
        ({"lowConfidence": -0.1}, "lowConfidence must be from 0 to 1"),
        ({"when": "drift"}, "when must be a list"),
        ({"when": ["drift", "always"]}, "unknown trigger 'always'"),
        ({"when": ["sample"]}, "unknown trigger 'sample'"),
        ({"maxRowsPerHour": -1}, "maxRowsPerHour must be a whole number"),
        ({"maxRowsPerHour": 10**9}, "maxRowsPerHour must be a whole number"),
        ({"maxRowsPerHour": 2.5}, "maxRowsPerHour must be a whole number"),
        ({"redact": "operator_id"}, "redact must be a list"),
        ({"redact": [""]}, "not a feature name"),
        ({"redact": [3]}, "not a feature name"),
        ({"url": 7}, "url must be a string"),
        ({"samples": 0.1}, "unknown field 'samples'"),
    ],
)
def test_a_wrong_field_is_named(value: Any, says: str) -> None:
    with pytest.raises(CaptureConfigError, match=says):
        parse(value)


def test_the_url_follows_the_model_urls_rules_and_never_shows_its_sas() -> None:
    for url, kwargs, says in [
        (SAS.replace("https", "http"), {}, "must be https"),
        (SAS, {"allowed_hosts": ["other.example"]}, "not in PREDICTOR_MODEL_URL_HOSTS"),
        (SAS, {"storage_host": "devstoreaccount1.blob.local"}, "storage account's blob host"),
    ]:
        with pytest.raises(CaptureConfigError, match=says) as caught:
            parse({"url": url}, **kwargs)
        assert "SECRET" not in str(caught.value) and "sig=" not in str(caught.value)
    assert parse({"url": SAS.replace("https", "http")}, allow_http=True).url is not None
