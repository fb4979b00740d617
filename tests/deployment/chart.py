"""Render the predictor chart with Helm itself, from Python, for the tests.

helm-python-sdk binds Helm's own Go SDK (the same template engine, Sprig functions and chart
loader as the ``helm`` command), so a render here is what ``helm template`` gives, with no
``helm`` binary to fetch. Nothing here talks to a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import helm_python
import yaml

from devtools import pod
from devtools.azurite import REPO_ROOT

CHART = REPO_ROOT / "deploy" / "helm" / "predictor"


def render(
    values: Mapping[str, Any],
    chart: Path = CHART,
    name: str = "demo",
    namespace: str = "default",
) -> list[dict[str, Any]]:
    """Every object ``helm template`` would give for ``values``, in template-file order."""
    with helm_python.Chart.load(str(chart)) as loaded:
        rendered: dict[str, str] = loaded.render(dict(values), name=name, namespace=namespace)
    objects: list[dict[str, Any]] = []
    for path in sorted(rendered):
        if not path.endswith((".yaml", ".yml")):
            continue  # NOTES.txt and the like are not objects
        objects.extend(doc for doc in yaml.safe_load_all(rendered[path]) if doc)
    return objects


def lint(values: Mapping[str, Any], chart: Path = CHART) -> list[dict[str, Any]]:
    """``helm lint --strict``'s findings for ``values``: dicts with ``severity`` (1 info,
    2 warning, 3 error), ``path`` and ``error``."""
    result = helm_python.lint(str(chart), dict(values), strict=True)
    messages: list[dict[str, Any]] = result.get("messages") or []
    return messages


def by_kind(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The rendered objects keyed by kind (the chart makes at most one of each)."""
    kinds: dict[str, dict[str, Any]] = {}
    for obj in objects:
        if obj["kind"] in kinds:
            raise ValueError(f"two objects of kind {obj['kind']}")
        kinds[obj["kind"]] = obj
    return kinds


def secrets(objects: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """The data of every rendered Secret, by name, as the pod sees it."""
    return {
        obj["metadata"]["name"]: pod.secret_data(obj) for obj in objects if obj["kind"] == "Secret"
    }
