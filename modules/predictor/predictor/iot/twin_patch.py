"""Sending one reported patch, with edgeHub's refusal told apart from a link that failed."""

from __future__ import annotations

import re
from typing import Any

from azure.iot.device.aio import IoTHubModuleClient
from azure.iot.device.exceptions import ServiceError

from predictor.iot.link import describe
from predictor.iot.reporter import ReportRefusedError


async def patch_reported(client: IoTHubModuleClient | None, patch: dict[str, Any]) -> None:
    """Send one reported patch (the reporter's ``SendPatch``): ReportRefusedError when edgeHub
    answers 4xx, any other error when it may take it later. The caller sets a deadline: an SDK
    operation caught by a dropped connection can wait for ever."""
    if client is None:
        raise ConnectionError("no connection to edgeHub")
    try:
        await client.patch_twin_reported_properties(patch)
    except Exception as exc:
        status = service_status(exc)
        if status is not None and 400 <= status < 500:
            raise ReportRefusedError(f"status {status}") from exc
        raise ConnectionError(describe(exc)) from exc


def service_status(exc: BaseException) -> int | None:
    """The status edgeHub answered a twin operation with, if that is what failed: the SDK
    raises ``ClientError`` caused by ``ServiceError("twin operation returned status 400")``."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ServiceError):
            found = re.search(r"status (\d{3})", str(seen))
            return int(found.group(1)) if found else None
        seen = seen.__cause__ or seen.__context__
    return None
