"""``python -m devtools.soak`` refuses bad arguments with a clear message before starting
anything (the long run itself is an operator's command, documented with its figures)."""

from __future__ import annotations

import pytest

from devtools.soak.__main__ import main, parse_env


def test_env_takes_name_value_pairs() -> None:
    assert parse_env(["MALLOC_ARENA_MAX=2", "SOAK_TRACEMALLOC_FRAMES=1", "EMPTY="]) == {
        "MALLOC_ARENA_MAX": "2",
        "SOAK_TRACEMALLOC_FRAMES": "1",
        "EMPTY": "",
    }


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--env", "MALLOC_ARENA_MAX"], "--env takes NAME=VALUE, not 'MALLOC_ARENA_MAX'"),
        (["--env", "=2"], "--env takes NAME=VALUE"),
        (["--seconds", "100", "--warmup", "100"], "--seconds must leave room"),
        (["--seconds", "ten"], "invalid positive value: 'ten'"),
        (["--rps", "0"], "must be a positive number, not 0"),
        (["--sample-every", "nan"], "must be a positive number, not nan"),
        (["--warmup", "-1"], "must be 0 or more, not -1"),
    ],
)
def test_bad_arguments_exit_2_with_the_reason(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
