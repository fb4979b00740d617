"""The IoT Edge rounds: in each, the pass-through and the predictor (in an order that alternates)
take the same number of messages, each a fresh process; the predictor then takes the twin
patches. Raw figures per round (per patch for the twin), like ``bench.run``'s."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from bench import message_path, timed_predictor, twin_update
from bench.candidates import Candidate
from bench.edge_rig import PASSTHROUGH, PREDICTOR, EdgeRig, edge_rig
from bench.run import Raw
from trainer.publish import Published

log = logging.getLogger("bench")

TWIN = "twin-update"
TIMED = "predictor-timed"


@dataclass(frozen=True)
class IotPlan:
    rounds: int
    messages: int  # per module per round; 0: no message path
    patches: int  # twin patches per round; 0: no twin update
    hub_cpus: str
    module_cpus: str
    work_dir: Path
    # ``--baseline`` predictors: each takes the same messages in every round, beside the
    # current one, under its own name (``predictor@REF``); no twin patches.
    baselines: tuple[Candidate, ...] = ()
    inputs_in_flight: int = 1  # per module: edgeHub's 1, or more to compare


def run_all(plan: IotPlan) -> Raw:
    raw: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    if plan.messages == 0 and plan.patches == 0:
        return {}
    with edge_rig(plan.work_dir, plan.hub_cpus, plan.module_cpus, plan.inputs_in_flight) as rig:
        models = twin_update.publish_models(rig.azurite, plan.work_dir, plan.patches)
        for round_no in range(plan.rounds):
            order = [PASSTHROUGH, PREDICTOR]
            if plan.messages:
                order += [candidate.name for candidate in plan.baselines]
            # Rotated each round, so no module always follows the same one.
            shift = round_no % len(order)
            order = order[shift:] + order[:shift]
            for module in order:
                if module == PASSTHROUGH and plan.messages == 0:
                    continue
                log.info("iot round %d/%d: %s", round_no + 1, plan.rounds, module)
                for name, metrics in _one(rig, module, plan, models).items():
                    for metric, values in metrics.items():
                        raw[name][metric].extend(values)
            if plan.messages:
                log.info("iot round %d/%d: predictor with timers", round_no + 1, plan.rounds)
                for metric, value in _timed(rig, timed_messages(plan.messages)).items():
                    raw[TIMED][metric].append(value)
    return {name: dict(metrics) for name, metrics in raw.items()}


def _one(
    rig: EdgeRig, module: str, plan: IotPlan, models: list[Published]
) -> dict[str, dict[str, list[float]]]:
    """One module process: its messages and, for the predictor, the twin patches. A
    baseline runs under the predictor's module identity, figures under its own name."""
    baseline = next((c for c in plan.baselines if c.name == module), None)
    if module == PASSTHROUGH:
        server = rig.start_passthrough()
    else:
        server = rig.start_predictor(candidate=baseline)
    mine = {"cold_start_s": [server.cold_start_s], "cold_start_cpu_s": [server.cold_start_cpu_s]}
    figures = {module: mine}
    identity = PASSTHROUGH if module == PASSTHROUGH else PREDICTOR
    try:
        if plan.messages:
            done = message_path.run(rig.hub, identity, server, plan.messages)
            mine |= {metric: [value] for metric, value in done.items()}
        # Read before the twin patches, which only the predictor takes: they import the storage
        # SDK and load other models, and its RSS would not compare with the others'.
        mine["rss_mb"] = [server.rss_mb()]
        if module == PREDICTOR and models:
            figures[TWIN] = twin_update.run(rig.hub, server, models)
            figures[TWIN]["rss_after_mb"] = [server.rss_mb()]
    finally:
        server.stop()
        if identity == PREDICTOR:
            twin_update.forget(rig.hub)
    return figures


def timed_messages(messages: int) -> int:
    """Messages for the timed run: enough for steady averages, a third of the others' cost."""
    return max(messages // 3, min(messages, 30))


def _timed(rig: EdgeRig, messages: int) -> dict[str, float]:
    """A predictor with in-process timers (bench/timed_predictor.py): CPU microseconds per
    message of each piece of the answers, beside the usual message-path figures."""
    server = rig.start_predictor(entry="bench.timed_predictor")
    try:
        figures = message_path.run(rig.hub, PREDICTOR, server, messages)
    finally:
        server.stop()
        timings = timed_predictor.read(server.log.read_text(errors="replace"))
    answered = timings.pop("messages", (0.0, 0))[1]
    figures["answered_messages"] = float(answered)
    for name, (seconds, calls) in timings.items():
        # Per message, not per call: waiting messages are answered together, in one call.
        figures[f"{name}_us_per_msg"] = seconds / answered * 1e6 if answered else 0.0
        figures[f"{name}_calls"] = float(calls)
    return figures
