"""The desired ``model`` property is checked before anything is downloaded."""

from __future__ import annotations

from typing import Any

import pytest

from predictor.storage.target import ModelTarget, TargetError, parse_target, redact

SHA = "ab" * 32
GOOD = {"url": "https://acct.blob.core.windows.net/models/iris/1.onnx?sv=x&sig=y", "sha256": SHA}


def test_a_published_model_is_accepted() -> None:
    target = parse_target({**GOOD, "version": "20261125.1"})
    assert target == ModelTarget(GOOD["url"], SHA, "20261125.1")
    assert target.safe_url == "https://acct.blob.core.windows.net/models/iris/1.onnx"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "must be an object"),
        ("https://x/y.onnx", "must be an object"),
        ({"url": GOOD["url"], "version": "1"}, "lacks sha256"),
        ({"sha256": SHA, "version": "1"}, "lacks url"),
        ({**GOOD}, "lacks version"),
        ({**GOOD, "version": 3}, "must be strings"),
        ({**GOOD, "sha256": "xyz", "version": "1"}, "64 hexadecimal"),
        ({**GOOD, "version": "../../etc"}, "not a valid version"),
        ({**GOOD, "url": "file:///etc/passwd", "version": "1"}, "must be https, not file"),
        ({**GOOD, "url": "http://127.0.0.1/m.onnx", "version": "1"}, "must be https, not http"),
        ({**GOOD, "url": "https:///nohost.onnx", "version": "1"}, "no host"),
        ({**GOOD, "url": "models/m.onnx", "version": "1"}, "no scheme"),
    ],
)
def test_bad_targets_are_refused_with_the_reason(value: Any, reason: str) -> None:
    with pytest.raises(TargetError, match=reason):
        parse_target(value)


def test_http_only_when_allowed_and_hosts_only_from_the_allow_list() -> None:
    value = {**GOOD, "url": "http://127.0.0.1:10000/acct/models/m.onnx", "version": "1"}
    assert parse_target(value, allow_http=True).url == value["url"]
    with pytest.raises(TargetError, match="not in PREDICTOR_MODEL_URL_HOSTS"):
        parse_target({**GOOD, "version": "1"}, allowed_hosts=["other.blob.core.windows.net"])
    allowed = parse_target({**GOOD, "version": "1"}, allowed_hosts=["ACCT.blob.core.windows.net"])
    assert allowed.version == "1"


def test_redaction_drops_the_sas_token() -> None:
    assert "sig" not in redact(GOOD["url"])
    assert redact("https://h/p") == "https://h/p"


def test_with_a_storage_host_no_other_host_is_taken() -> None:
    with pytest.raises(TargetError, match="not the storage account's blob host"):
        parse_target({**GOOD, "version": "1"}, storage_host="other.blob.core.windows.net")
    taken = parse_target({**GOOD, "version": "1"}, storage_host="ACCT.blob.core.windows.net")
    assert taken.url == GOOD["url"]
