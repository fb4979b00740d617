"""The twin's desired ``capture``: a wrong value is reported and ignored (the model keeps the
config it had), null and the whole twin without an entry stop a model, reported follows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from predictor.capture.capturer import Capturer
from predictor.capture.config import parse
from predictor.iot.capture_control import CaptureControl
from predictor.iot.reporter import TwinReporter
from predictor.settings import CaptureSettings


async def test_a_wrong_value_is_reported_and_the_previous_config_stays(tmp_path: Path) -> None:
    sent: list[dict[str, Any]] = []

    async def send(patch: dict[str, Any]) -> None:
        sent.append(patch)

    capturer = Capturer(tmp_path / "capture", CaptureSettings(), identity="d/m")
    reporter = TwinReporter(send)
    control = CaptureControl(capturer, reporter, parse, interval=60)
    try:
        control.handle({"leaf": {"sample": 0.5}}, whole=False)
        assert capturer.config("leaf") == parse({"sample": 0.5})
        control.handle({"leaf": {"sample": 5}}, whole=False)
        assert capturer.config("leaf") == parse({"sample": 0.5})  # kept
        reported = reporter.value(("capture", "leaf"))
        assert "sample must be from 0 to 1" in reported["error"] and reported["rows"] == 0
        control.handle({"leaf": {"sample": 0.2}}, whole=False)
        assert reporter.value(("capture", "leaf"))["error"] is None
        control.handle({"bad name": {}}, whole=False)  # no reported key for a name the twin refuses
        assert reporter.names("capture") == ["leaf"]
        control.handle({"petal": {"sample": 1.0}}, whole=False)
        control.handle({"leaf": None}, whole=False)
        assert capturer.names() == ["petal"]
        control.handle(None, whole=True)  # the whole twin holds no capture: all stop
        assert capturer.names() == [] and reporter.names("capture") == []
        assert await reporter.flush()
        assert sent and sent[-1]["capture"] == {"leaf": None, "petal": None}
    finally:
        capturer.close()
