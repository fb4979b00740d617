"""The ``PREDICTOR_MODEL_URL`` settings: empty values mean unset, a bad sha256 stops the start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from predictor.settings import load_settings
from tests.support.predictor_process import REPO, env_for


def test_empty_values_mean_unset_and_the_url_is_trimmed() -> None:
    source = load_settings(model_url="  ", model_sha256="", model_signature=" ").model_source
    assert (source.model_url, source.model_sha256, source.model_signature) == (
        None,
        None,
        None,
    )
    trimmed = load_settings(model_url=" https://a.blob.core.windows.net/m/x.onnx?sig=s ")
    url = trimmed.model_source.model_url
    assert (
        url is not None
        and url.get_secret_value() == "https://a.blob.core.windows.net/m/x.onnx?sig=s"
    )
    assert "sig=s" not in repr(load_settings(model_url="https://a/m/x.onnx?sig=s"))  # a secret
    assert load_settings().model_source.model_poll_seconds == 60


@pytest.mark.parametrize(
    ("variable", "value"),
    [("PREDICTOR_MODEL_SHA256", "abc"), ("PREDICTOR_MODEL_POLL_SECONDS", "-1")],
)
def test_a_bad_value_stops_the_predictor_with_its_name(
    tmp_path: Path, variable: str, value: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "predictor"],
        cwd=REPO,
        env=env_for(tmp_path, **{variable: value}),
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert variable in result.stdout.decode() + result.stderr.decode()
