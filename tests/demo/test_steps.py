"""The demo's own small parts: port choice with a port really taken, and how a failure reads."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from devtools.demo.ports import choose_port, is_free
from devtools.demo.progress import StepError, fail, step
from devtools.ports import free_port


def test_a_taken_port_is_named_and_a_free_one_used_instead() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        port = taken.getsockname()[1]
        choice = choose_port(port, "Azurite")
        assert choice.port != port and is_free(choice.port)
        assert choice.note == (
            f"port {port} (Azurite) is taken on 127.0.0.1; using {choice.port} instead"
        )
    assert choose_port(port, "Azurite").note is None  # free again: the usual port is kept


def test_a_failed_step_names_itself_and_its_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "predictor.log"
    with pytest.raises(StepError) as raised, step(3, "Start the modules"):
        raise StepError("predictor exited (status 2)", log)
    fail(raised.value)
    out, err = capsys.readouterr()
    assert "[3/9] Start the modules" in out
    assert "done in" not in out
    assert err.splitlines()[-2:] == [
        "demo: step 3 (Start the modules) failed: predictor exited (status 2)",
        f"demo: see its log: {log}",
    ]
