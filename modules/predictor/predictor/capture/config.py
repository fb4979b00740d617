"""What to capture for one model, from the twin's desired ``capture.<name>`` (docs/capture.md).

``parse`` checks every field and says what is wrong in words an operator can act on; the caller
logs and reports the refusal and keeps the config it had (or none). A SAS token never appears in
an error or a report: only the URL without its query string does (``safe_url``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from predictor.storage.target import TargetError, check_url, redact

SAMPLE = "sample"
DRIFT = "drift"
LOW_CONFIDENCE = "lowConfidence"
SHADOW_DISAGREE = "shadowDisagree"
OUTLIER = "outlier"
# The triggers ``when`` may name (``sample`` is its own field: a fraction, not a condition).
WHEN = (DRIFT, LOW_CONFIDENCE, SHADOW_DISAGREE, OUTLIER)
TRIGGERS = (SAMPLE, *WHEN)

MAX_ROWS_PER_HOUR = 1_000_000  # a bound on the cap itself: ~280 rows a second
MAX_REDACT = 256
_FEATURE = re.compile(r"^[^\x00-\x1f]{1,256}$")
_KEYS = {"sample", "when", "lowConfidence", "maxRowsPerHour", "redact", "url"}


class CaptureConfigError(ValueError):
    """A desired ``capture.<name>`` the module cannot follow; it keeps its previous config."""


@dataclass(frozen=True)
class CaptureConfig:
    """One model's capture rules, checked."""

    sample: float = 0.0
    when: frozenset[str] = frozenset()
    low_confidence: float = 0.6  # a classifier's top probability under it: ``lowConfidence``
    max_rows_per_hour: int = 5000
    redact: frozenset[str] = frozenset()
    url: str | None = None  # the container's SAS URL, for the uploader

    @property
    def safe_url(self) -> str | None:
        """The URL without its query string (the SAS): for logs and the reported twin."""
        return None if self.url is None else redact(self.url)


def _fraction(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CaptureConfigError(f"{field} must be a number from 0 to 1, not {value!r:.40}")
    if not 0 <= value <= 1:
        raise CaptureConfigError(f"{field} must be from 0 to 1, not {value}")
    return float(value)


def parse(
    value: Any,
    *,
    allow_http: bool = False,
    allowed_hosts: list[str] | None = None,
    storage_host: str | None = None,
) -> CaptureConfig:
    """The config in a desired ``capture.<name>`` object; ``CaptureConfigError`` if any field is
    wrong. The URL follows the model URLs' rules (``storage/target.py``)."""
    if not isinstance(value, dict):
        raise CaptureConfigError(f"must be an object, not {type(value).__name__}")
    unknown = sorted(str(k)[:40] for k in value if k not in _KEYS and not str(k).startswith("$"))
    if unknown:
        raise CaptureConfigError(
            f"unknown field {', '.join(map(repr, unknown[:5]))}; known: {', '.join(sorted(_KEYS))}"
        )
    sample = _fraction(value.get("sample", 0.0), "sample")
    low = _fraction(value.get("lowConfidence", 0.6), "lowConfidence")
    when_value = value.get("when", [])
    if not isinstance(when_value, list) or not all(isinstance(w, str) for w in when_value):
        raise CaptureConfigError("when must be a list of trigger names")
    wrong = [w for w in when_value if w not in WHEN]
    if wrong:
        raise CaptureConfigError(
            f"when names unknown trigger {wrong[0][:40]!r}; known: {', '.join(WHEN)}"
        )
    cap = value.get("maxRowsPerHour", 5000)
    if isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap <= MAX_ROWS_PER_HOUR:
        raise CaptureConfigError(
            f"maxRowsPerHour must be a whole number from 0 to {MAX_ROWS_PER_HOUR}, not {cap!r:.40}"
        )
    names = value.get("redact", [])
    if not isinstance(names, list) or len(names) > MAX_REDACT:
        raise CaptureConfigError(f"redact must be a list of at most {MAX_REDACT} feature names")
    for name in names:
        if not isinstance(name, str) or not _FEATURE.match(name):
            raise CaptureConfigError(f"redact holds {name!r:.40}, not a feature name")
    url = value.get("url")
    if url is not None:
        if not isinstance(url, str):
            raise CaptureConfigError("url must be a string: the container's SAS URL")
        try:
            check_url(
                url,
                allow_http=allow_http,
                allowed_hosts=allowed_hosts or [],
                storage_host=storage_host,
            )
        except TargetError as exc:
            # check_url's messages name the host and scheme only, never the query (the SAS).
            raise CaptureConfigError(f"url {redact(url)}: {exc}") from None
        except ValueError:
            raise CaptureConfigError("url is malformed") from None
    return CaptureConfig(
        sample=sample,
        when=frozenset(when_value),
        low_confidence=low,
        max_rows_per_hour=cap,
        redact=frozenset(names),
        url=url,
    )
