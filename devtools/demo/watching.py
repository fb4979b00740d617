"""Steps 6 and 7: a candidate as a shadow, then promoted; a sensor that drifts."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from sklearn.datasets import load_iris

from devtools.demo.calls import call, poll
from devtools.demo.progress import StepError, detail, step
from devtools.demo.run import Run, new_version
from devtools.demo.services import HOST
from devtools.demo.story import apply_patch, publish, wait_applied

V3_HYPERPARAMETERS = ["--C", "3"]
PROMOTE = ["--promote-min-rows", "120", "--promote-min-agreement", "0.8"]


def reported(run: Run, prop: str) -> dict[str, Any]:
    twin = call("GET", f"{run.hub.control}/modules/predictor/twin")
    value = twin.get("reported", {}).get(prop, {}).get("iris-svm")
    return value if isinstance(value, dict) else {}


def post_rows(run: Run, rows: np.ndarray) -> None:
    for start in range(0, len(rows), 20):
        body = {"instances": rows[start : start + 20].tolist()}
        call("POST", f"http://{HOST}:{run.http_port}/predict", body)


def iris_rows(count: int, seed: int) -> np.ndarray:
    iris = np.asarray(load_iris().data, dtype=np.float64)
    return iris[np.random.default_rng(seed).integers(0, len(iris), size=count)]


def compared(run: Run, rows: int) -> dict[str, Any] | None:
    """The shadow's entry once it has compared ``rows`` rows (or was promoted)."""
    entry = reported(run, "shadow")
    if entry.get("status") == "promoted":
        return entry
    return entry if ((entry.get("comparison") or {}).get("rows") or 0) >= rows else None


def step6_shadow(run: Run) -> None:
    with step(6, "Publish version 3 as a shadow of version 2: compared on live rows, promoted"):
        v3 = new_version(2)
        run.versions.append(v3)
        apply_patch(run, publish(run, 3, v3, V3_HYPERPARAMETERS, ["--shadow", *PROMOTE]))
        if poll(lambda: reported(run, "shadow").get("status") == "applied" or None, run.timeout):
            detail(f"the predictor loaded {v3} as a shadow; only version 2 answers")
        else:
            raise StepError("the shadow was not loaded", run.procs.log_path("predictor"))
        for seed in range(4):
            post_rows(run, iris_rows(40, seed))
            entry = poll(functools.partial(compared, run, 40 * (seed + 1)), run.timeout) or {}
            comparison = entry.get("comparison") or {}
            detail(
                f"  compared on {comparison.get('rows')} rows: agreement "
                f"{comparison.get('agreement')}"
            )
            if entry.get("status") == "promoted":
                break
        promoted = poll(
            lambda: reported(run, "shadow") if reported(run, "shadow").get("status") == "promoted"
            else None,
            run.timeout,
        )  # fmt: skip
        if promoted is None:
            raise StepError("the shadow was not promoted", run.procs.log_path("predictor"))
        model = wait_applied(run, v3)
        detail(
            f"promoted: version 3 ({v3}) serves now (reported model source {model['source']}), "
            f"after {promoted['comparison']['rows']} rows at agreement "
            f"{promoted['comparison']['agreement']}"
        )


def step7_drift(run: Run) -> None:
    with step(7, "Feed rows like the training data, then a drifted petal sensor"):
        post_rows(run, iris_rows(200, 10))

        def settled(status: str) -> dict[str, Any] | None:
            entry = reported(run, "drift")
            return entry if entry.get("status") == status and entry.get("rows") == 200 else None

        steady = poll(lambda: settled("ok") or settled("warn"), run.timeout)
        if steady is None:
            raise StepError("no drift report for the live rows", run.procs.log_path("predictor"))
        detail(f"200 rows like the training data: drift status {steady['status']}, worst:")
        for item in steady["worst"]:
            detail(f"  {item['feature']}: PSI {item['psi']}")
        shifted = iris_rows(200, 11)
        shifted[:, 2] += 2.5  # the petal length sensor now reads 2.5 cm long
        post_rows(run, shifted)
        drifted = poll(lambda: settled("drift"), run.timeout)
        if drifted is None:
            raise StepError(
                "the shifted rows were not reported as drift", run.procs.log_path("predictor")
            )
        worst = drifted["worst"][0]
        detail(
            f"200 rows with petal_length read 2.5 cm long: drift status {drifted['status']}, "
            f"worst {worst['feature']} (PSI {worst['psi']})"
        )
