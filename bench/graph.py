"""``python -m bench.graph``: the iris model's ONNX graph, as skl2onnx's converter makes it and as
the trainer's fused calibration converter (``trainer/calibration.py``) makes it, each also after
ONNX Runtime's offline optimisation (the optimised graph saved, then loaded again on plain ORT).

Prints, per graph: ONNX nodes, the parity with scikit-learn (max |dp| over the iris rows and
3000 random points, the trainer's gate), the session's load time, and microseconds per
``session.run`` for 1 row and 64 rows with the predictor's own session options, in a tight loop
(median of the repeats). Nothing is asserted: figures only (BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from numpy.typing import NDArray
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from skl2onnx.operator_converters.calibrated_classifier_cv import (
    convert_sklearn_calibrated_classifier_cv,
)
from sklearn.calibration import CalibratedClassifierCV

from predictor.models.runtime import session_options
from trainer import parity_points
from trainer.build import build_model
from trainer.training import Hyperparameters, load_dataset

ROWS = (1, 64)


@dataclass(frozen=True)
class GraphFigures:
    name: str
    nodes: int
    max_dp: float
    load_ms: float
    us_per_call: dict[int, float]


def stock_graph(model: object) -> bytes:
    """The model converted with skl2onnx's own CalibratedClassifierCV converter."""
    graph = convert_sklearn(
        model,
        initial_types=[("input", FloatTensorType([None, 4]))],
        options={"zipmap": False},
        custom_conversion_functions={
            CalibratedClassifierCV: convert_sklearn_calibrated_classifier_cv
        },
    )
    data: bytes = graph.SerializeToString()
    return data


def offline_optimised(data: bytes, level: ort.GraphOptimizationLevel, work: Path) -> bytes:
    """ONNX Runtime's optimised graph at ``level``, saved to a file as ORT writes it."""
    path = work / f"optimised-{int(level)}.onnx"
    options = ort.SessionOptions()
    options.graph_optimization_level = level
    options.optimized_model_filepath = str(path)
    ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
    return path.read_bytes()


def measure(
    name: str,
    data: bytes,
    reference: Callable[[NDArray[np.float32]], NDArray[np.float64]],
    points: NDArray[np.float32],
    level: ort.GraphOptimizationLevel,
    budget_s: float,
) -> GraphFigures:
    started = time.perf_counter()
    options = session_options()
    options.graph_optimization_level = level
    session = ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
    load_ms = (time.perf_counter() - started) * 1000
    input_name = session.get_inputs()[0].name
    _, probabilities = session.run(None, {input_name: points})
    max_dp = float(np.abs(np.asarray(probabilities, dtype=np.float64) - reference(points)).max())
    timings = {rows: _us_per_call(session, input_name, points[:rows], budget_s) for rows in ROWS}
    return GraphFigures(name, len(onnx.load_from_string(data).graph.node), max_dp, load_ms, timings)


def _us_per_call(
    session: ort.InferenceSession, input_name: str, rows: NDArray[np.float32], budget_s: float
) -> float:
    feed = {input_name: np.ascontiguousarray(rows)}
    for _ in range(200):  # warm-up: caches, the arena, the branch predictor
        session.run(None, feed)
    repeats: list[float] = []
    calls = 500
    deadline = time.perf_counter() + budget_s
    while time.perf_counter() < deadline or len(repeats) < 5:
        started = time.perf_counter_ns()
        for _ in range(calls):
            session.run(None, feed)
        repeats.append((time.perf_counter_ns() - started) / calls / 1000)
    return statistics.median(repeats)


def table(rows: list[GraphFigures]) -> str:
    head = f"{'graph':58} {'nodes':>6} {'max |dp|':>10} {'load ms':>8}"
    head += "".join(f" {f'us/call {n} row' + ('s' if n > 1 else ''):>16}" for n in ROWS)
    lines = [head]
    for r in rows:
        line = f"{r.name:58} {r.nodes:>6} {r.max_dp:>10.2e} {r.load_ms:>8.2f}"
        line += "".join(f" {r.us_per_call[n]:>16.2f}" for n in ROWS)
        lines.append(line)
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.graph", description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="timing budget per figure")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", FutureWarning)
    built = build_model(Hyperparameters(), "iris-svm", "1.0.0")
    model = built.training.model
    points = parity_points.probe_points(load_dataset().features, parity_points.RANDOM_POINTS)

    def reference(x: NDArray[np.float32]) -> NDArray[np.float64]:
        return np.asarray(model.predict_proba(x), dtype=np.float64)

    basic = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    full = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    graphs = {"skl2onnx converter": stock_graph(model), "fused calibration (trainer)": built.data}
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name, data in graphs.items():
            rows.append(measure(name, data, reference, points, full, args.seconds))
            for level, label in ((basic, "basic"), (full, "all")):
                saved = offline_optimised(data, level, Path(work))
                # The saved graph loaded again on plain ORT at the basic level, as a device
                # with any build of ORT would load it.
                rows.append(
                    measure(
                        f"{name}, ORT offline {label} -> basic",
                        saved,
                        reference,
                        points,
                        basic,
                        args.seconds,
                    )
                )
    print(f"onnxruntime {ort.__version__}; predictor session options (1 thread, no spinning)")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
