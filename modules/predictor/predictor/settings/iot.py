"""The IoT Edge side's settings: the module's input and outputs, reports, and edgeHub's link."""

from typing import Annotated, ClassVar

import msgspec
from msgspec import Meta

# The largest message the IoT SDK sends and edgeHub takes, body and properties together: the
# SDK's TELEMETRY_MESSAGE_SIZE_LIMIT (not imported here: the SDK loads after the HTTP API).
EDGEHUB_MESSAGE_LIMIT = 262_144


class IotSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Module inputs, outputs and twin reports under IoT Edge (``iot/edge.py``, ``iot/link.py``)."""

    title: ClassVar[str] = "IoT Edge"

    telemetry_input: Annotated[
        str,
        Meta(
            min_length=1,
            description="Module input whose messages are predicted (routed by edgeHub).",
        ),
    ] = "telemetry"
    predictions_output: Annotated[
        str, Meta(min_length=1, description="Module output for predictions.")
    ] = "predictions"
    errors_output: Annotated[
        str,
        Meta(
            min_length=1,
            description="Module output for messages that could not be predicted, with the reason.",
        ),
    ] = "errors"
    max_message_bytes: Annotated[
        int,
        Meta(
            ge=4096,
            le=EDGEHUB_MESSAGE_LIMIT,
            description=(
                "Largest output message, body and properties together, as the SDK and edgeHub "
                "count them: edgeHub counts the whole MQTT packet (topic included) and, when "
                "routing, the properties it adds; device and module ids are counted at their "
                "longest, with a margin, so that even at the most (262144, their 256 KB limit) "
                "every message fits. A larger answer is split into parts that each carry the "
                "input's properties; one that cannot fit goes to the errors output."
            ),
        ),
    ] = 250000
    report_interval_seconds: Annotated[
        float,
        Meta(
            ge=0.1,
            le=3600,
            description=(
                "Shortest time between two reports of a shadow model's comparison to the twin "
                "(and between two promotion checks)."
            ),
        ),
    ] = 60.0
    monitoring_output: Annotated[
        str,
        Meta(
            description=(
                "If set, a module output that gets a summary message every "
                "PREDICTOR_REPORT_INTERVAL_SECONDS: each model's drift and each shadow's "
                "comparison (aggregates only)."
            )
        ),
    ] = ""
    iot_reconnect_seconds: Annotated[
        int,
        Meta(
            ge=1,
            le=300,
            description="Seconds between two tries to reach edgeHub after the connection drops.",
        ),
    ] = 10
    iot_timeout_seconds: Annotated[
        float,
        Meta(
            gt=0,
            le=600,
            description=(
                "Longest wait for one edgeHub operation (connect, twin read, subscribe, a send's "
                "acknowledgement); a send past it replaces the client."
            ),
        ),
    ] = 30.0
    iot_token_ttl_seconds: Annotated[
        int,
        Meta(
            ge=130,
            le=86400,
            description=(
                "Lifetime of the SAS token the module signs through the IoT Edge workload API; "
                "the IoT SDK renews it 120 s before it expires, and a module whose renewal "
                "fails connects again with a new one."
            ),
        ),
    ] = 3600
