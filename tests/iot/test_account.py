"""The storage SDK loads only when the IoT side needs it: a connection string, or a download."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.edge_module import REPO

KEY = "a2V5a2V5a2V5a2V5"


@pytest.mark.parametrize(
    ("connection_string", "printed"),
    [
        # SAS URLs only: ~16 MB and ~70 ms of CPU (BENCHMARKS.md) wait for the first download.
        (None, ["None", "[]"]),
        # The SDK itself parses the connection string, so that its endpoint is the one it signs.
        (
            f"AccountName=acct;AccountKey={KEY}",
            ["acct.blob.core.windows.net", "['azure.core',", "'azure.storage.blob']"],
        ),
    ],
)
def test_the_iot_side_loads_the_storage_sdk_only_for_a_connection_string(
    connection_string: str | None, printed: list[str]
) -> None:
    code = (
        "import sys; from predictor.iot import edge; "
        "from predictor.storage import follower, source; "
        "from predictor.storage.download import Downloader, DownloadPolicy; "
        f"d = Downloader(DownloadPolicy(1, 1, 1.0, 1.0, {connection_string!r})); "
        "print(d.account and d.account.host, "
        "sorted(m for m in ('azure.storage.blob', 'azure.core') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "modules" / "predictor")},
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.decode().split() == printed
