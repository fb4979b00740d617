"""IoT Edge log lines and the PREDICTOR_* settings."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from predictor import logs
from predictor.settings import (
    EDGEHUB_MESSAGE_LIMIT,
    SettingsError,
    group_titles,
    load_settings,
    setting_infos,
)


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    out = io.StringIO()
    logs.configure("DEBUG", stream=out)
    yield out
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


@pytest.mark.parametrize(
    ("level", "prefix"),
    [
        (logging.DEBUG, "<7>"),
        (logging.INFO, "<6>"),
        (logging.WARNING, "<4>"),
        (logging.ERROR, "<3>"),
    ],
)
def test_each_level_gets_its_syslog_prefix(stream: io.StringIO, level: int, prefix: str) -> None:
    logging.getLogger("predictor.test").log(level, "model %s applied", "v1")
    line = stream.getvalue()
    assert re.fullmatch(
        re.escape(prefix) + r" \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \+00:00 \[[A-Z]{3}\] - "
        r"predictor\.test: model v1 applied\n",
        line,
    )


def test_a_traceback_stays_on_one_line(stream: io.StringIO) -> None:
    try:
        raise ValueError("first\nsecond")
    except ValueError:
        logging.getLogger("predictor.test").exception("it failed")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("<3>") and "ValueError: first | second" in lines[0]


def test_settings_come_from_predictor_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PREDICTOR_HTTP_PORT", "9090")
    monkeypatch.setenv("PREDICTOR_MODEL_CACHE_DIR", "/data/cache")
    monkeypatch.setenv("PREDICTOR_MAX_ROWS", "50")
    settings = load_settings()
    assert settings.http.http_port == 9090
    assert settings.store.model_cache_dir == Path("/data/cache")
    assert settings.inference.max_rows == 50
    assert settings.http.http_host == "0.0.0.0"
    assert settings.store.default_model == Path("/app/models/default.onnx")


def test_every_setting_is_documented() -> None:
    for name, field in setting_infos().items():
        assert field.description, f"PREDICTOR_{name.upper()} has no description"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PREDICTOR_HTTP_PORT", "0"),
        ("PREDICTOR_MAX_ROWS", "-1"),
        ("PREDICTOR_LOG_LEVEL", "LOUD"),
        ("PREDICTOR_MAX_MESSAGE_BYTES", "262145"),  # past what the SDK and edgeHub take
    ],
)
def test_invalid_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError):
        load_settings()


def test_the_message_limit_is_the_one_the_iot_sdk_enforces(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from azure.iot.device.constant import TELEMETRY_MESSAGE_SIZE_LIMIT

    from predictor.iot import wire

    assert EDGEHUB_MESSAGE_LIMIT == TELEMETRY_MESSAGE_SIZE_LIMIT == wire.SDK_MESSAGE_LIMIT
    monkeypatch.setenv("PREDICTOR_MAX_MESSAGE_BYTES", str(TELEMETRY_MESSAGE_SIZE_LIMIT))
    assert load_settings().iot.max_message_bytes == TELEMETRY_MESSAGE_SIZE_LIMIT
    monkeypatch.setenv("PREDICTOR_MAX_MESSAGE_BYTES", str(TELEMETRY_MESSAGE_SIZE_LIMIT + 1))
    with pytest.raises(SettingsError, match="<= 262144"):
        load_settings()


def test_the_settings_tables_in_the_docs_list_every_setting() -> None:
    repo = Path(__file__).resolve().parents[2]
    for doc in (repo / "docs" / "predictor.md", repo / "README.md"):
        text = doc.read_text()
        for name in setting_infos():
            assert f"| `PREDICTOR_{name.upper()}` |" in text, f"{doc.name} lacks {name}"


def test_the_docs_list_each_group_of_settings_under_its_own_heading() -> None:
    repo = Path(__file__).resolve().parents[2]
    section = (repo / "docs" / "predictor.md").read_text().split("\n## Settings\n")[1]
    section = section.split("\n## ")[0]
    listed: dict[str, list[str]] = {}
    for part in section.split("\n### ")[1:]:
        title, _, table = part.partition("\n")
        listed[title] = re.findall(r"^\| `(PREDICTOR_[A-Z0-9_]+)` \|", table, re.MULTILINE)
    infos = setting_infos().values()
    assert listed == {
        title: [info.variable for info in infos if info.group == group]
        for group, title in group_titles().items()
    }


def test_each_setting_lands_in_its_group_and_each_group_names_its_problem() -> None:
    settings = load_settings(
        {"PREDICTOR_HTTP_PORT": "9090", "PREDICTOR_DOWNLOAD_ATTEMPTS": "7"}, max_rows=3
    )
    assert (settings.http.http_port, settings.download.download_attempts) == (9090, 7)
    assert settings.inference.max_rows == 3
    assert settings.iot.iot_timeout_seconds == 30.0  # the others keep their defaults
    # Checks no bound expresses, in two groups: both named at once.
    with pytest.raises(SettingsError) as caught:
        load_settings({"PREDICTOR_HTTP_TOKEN": " t", "PREDICTOR_MODEL_PUBLIC_KEY": "no key"})
    assert len(caught.value.problems) == 2
    assert "PREDICTOR_HTTP_TOKEN must not start or end with white space" in caught.value.problems
    assert caught.value.problems[1].startswith("PREDICTOR_MODEL_PUBLIC_KEY: ")
    with pytest.raises(TypeError, match="no such setting: max_row"):
        load_settings({}, max_row=3)


def test_the_cache_default_matches_the_image_and_the_deployment() -> None:
    repo = Path(__file__).resolve().parents[2]
    default = str(setting_infos()["model_cache_dir"].default)
    assert (
        f"PREDICTOR_MODEL_CACHE_DIR={default}"
        in (repo / "modules" / "predictor" / "Dockerfile.amd64").read_text()
    )
    assert f":{default}" in (repo / "deployment.template.json").read_text()


def test_every_wrong_variable_is_named_at_once_and_no_secret_is_echoed() -> None:
    env = {
        "PREDICTOR_HTTP_PORT": "eighty",
        "PREDICTOR_MAX_ROWS": "0",
        "PREDICTOR_MODEL_URL_HOSTS": "a.example",  # not JSON
        "PREDICTOR_STORAGE_CONNECTION_STRING": "AccountKey=hush",  # fine: a secret, any text
        "PREDICTOR_HTTP_BODY_TIMEOUT_SECONDS": "301",
    }
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert caught.value.problems == [
        "PREDICTOR_HTTP_PORT: Expected `int`, got 'eighty'",
        "PREDICTOR_MAX_ROWS: Expected `int` >= 1, got '0'",
        "PREDICTOR_MODEL_URL_HOSTS: not a JSON list, got 'a.example'",
        "PREDICTOR_HTTP_BODY_TIMEOUT_SECONDS: Expected `float` <= 300.0, got '301'",
    ]
    with pytest.raises(SettingsError) as caught:
        load_settings({"PREDICTOR_HTTP_TOKEN": "hush-hush "})
    assert "white space" in str(caught.value) and "hush" not in str(caught.value)
    with pytest.raises(SettingsError, match="PREDICTOR_MODEL_URL: expected text"):
        load_settings({}, model_url=7)


def test_environment_text_is_read_as_operators_write_it() -> None:
    settings = load_settings(
        {
            "predictor_max_rows": "5",  # names are case-insensitive
            "PREDICTOR_COALESCE": "off",
            "PREDICTOR_ACCESS_LOG": "Yes",
            "PREDICTOR_ALLOW_HTTP_MODEL_URLS": "1",
            "PREDICTOR_MODEL_URL_HOSTS": '["a.example", "b.example"]',
            "PREDICTOR_MODEL_PUBLIC_KEY": " ",  # blank: unset
            "PREDICTOR_UNKNOWN": "ignored",
            "OTHER_HTTP_PORT": "1",
        }
    )
    assert settings.inference.max_rows == 5
    assert settings.inference.coalesce is False and settings.http.access_log is True
    assert settings.download.allow_http_model_urls is True
    assert settings.download.model_url_hosts == ["a.example", "b.example"]
    assert settings.model_check.model_public_key is None
    assert settings.http.http_port == 8080
    # Values given in code override the environment, and are checked the same way.
    assert load_settings({"PREDICTOR_MAX_ROWS": "5"}, max_rows=7).inference.max_rows == 7
    with pytest.raises(SettingsError, match="PREDICTOR_MAX_ROWS"):
        load_settings({}, max_rows=0)
