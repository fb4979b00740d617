"""The model runtime seam: one ONNX Runtime session per model, created once from bytes."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import onnxruntime as ort

from modelcontract.smoke import smoke_columns
from predictor import __version__
from predictor.models import contract as contract_mod
from predictor.models.batch import DTYPES, Columns, Prediction, Rows
from predictor.models.contract import CLASSIFIER, REGRESSOR, Contract, Label, ModelError

# A model must answer a smoke batch this close to a probability distribution per row.
_PROBABILITY_TOLERANCE = 1e-3


def session_options(threads: int = 1) -> ort.SessionOptions:
    """Options for small batches on a small device.

    One intra-op thread and sequential execution: a 4-feature SVM takes microseconds, so
    thread hand-offs would cost more than they save, and other modules share the CPU.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle worker threads must not spin on a shared Raspberry Pi CPU.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


class OnnxModel:
    """A loaded, checked model, safe to predict with from many requests at once.

    The session and the contract never change. ``load_seconds`` is set once ``from_bytes`` has
    smoke-tested the model, and ``origin`` by the model store for a model from the cache; both
    before the model serves, and nothing changes them after.
    """

    def __init__(
        self,
        session: ort.InferenceSession,
        contract: Contract,
        *,
        sha256: str,
        size: int,
        source: str,
        load_seconds: float,
    ) -> None:
        self._session = session
        self.contract = contract
        # The model's ONNX metadata as ONNX Runtime read it (the contract and, e.g., its profile).
        self.metadata: dict[str, str] = {}
        self.sha256 = sha256
        self.size = size
        self.source = source
        self.load_seconds = load_seconds
        self.loaded_at = datetime.now(UTC)
        # Where the bytes were before (e.g. for a cached model: when and from where applied).
        self.origin: dict[str, str] = {}
        self._outputs = list(contract.outputs.values())
        self._input_name = contract.input_name
        self._kind = contract.kind
        self._class_output = contract.class_output
        self._index = {label: i for i, label in enumerate(contract.class_labels)}

    @classmethod
    def from_bytes(
        cls, data: bytes, source: str, *, threads: int = 1, check_domains: bool = True
    ) -> OnnxModel:
        """Load ``data``, check its contract against the graph and smoke-test it.

        Raises ModelError (with the reason) for anything that cannot be served.
        ``check_domains=False`` is for models checked before (the bundled one and the cache):
        the check needs protobuf, whose import would delay the first answer.
        """
        started = time.perf_counter()
        if not data:
            raise ModelError("the model file is empty")
        if check_domains:
            from modelcontract.opsets import operator_domains

            contract_mod.check_operator_domains(operator_domains(data))
        try:
            session = ort.InferenceSession(
                data, sess_options=session_options(threads), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT raises its own exception types for a bad file
            raise ModelError(f"not a loadable ONNX model: {_first_line(exc)}") from exc
        metadata = dict(session.get_modelmeta().custom_metadata_map)
        contract = contract_mod.accept(metadata, session.get_inputs(), session.get_outputs())
        model = cls(
            session,
            contract,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            source=source,
            load_seconds=0.0,
        )
        model.metadata = metadata
        model.smoke_test()
        model.load_seconds = time.perf_counter() - started
        return model

    @property
    def name(self) -> str:
        return self.contract.model_name

    @property
    def version(self) -> str:
        return self.contract.model_version

    @property
    def n_features(self) -> int:
        return len(self.contract.feature_names)

    def predict(self, rows: Rows) -> Prediction:
        """Predict a validated batch: float32 ``[N, n_features]``, or ``Columns`` for a model
        with one input per column."""
        feed = rows.arrays if isinstance(rows, Columns) else {self._input_name: rows}
        if self._kind != CLASSIFIER:
            return self._predict_other(feed, len(rows))
        labels_raw, *beside = self._session.run(self._outputs, feed)
        # tolist() gives Python str (string tensor) or int (int64 tensor) in one C call.
        labels: list[Label] = labels_raw.tolist()
        try:
            indices = np.array([self._index[x] for x in labels], dtype=np.int64)
        except KeyError as exc:
            raise ModelError(f"the model answered a label outside class_labels: {exc}") from exc
        if self._class_output == "probabilities":
            return Prediction(labels, indices, np.asarray(beside[0], dtype=np.float32))
        empty = np.empty((len(labels), 0), dtype=np.float32)
        # The decision function's scores, one column per class (none for a label-only model).
        scores = np.asarray(beside[0], dtype=np.float32) if beside else None
        return Prediction(labels, indices, empty, scores=scores)

    def _predict_other(self, feed: dict[str, Any], count: int) -> Prediction:
        """A regressor's values or an outlier detector's flags and scores."""
        empty = np.empty((count, 0), dtype=np.float32)
        indices = np.full(count, -1, dtype=np.int64)  # no class: not a classifier
        if self._kind == REGRESSOR:
            [raw] = self._session.run(self._outputs, feed)
            width = len(self.contract.target_names)
            values = np.asarray(raw, dtype=np.float32).reshape(count, width)
            labels = values[:, 0].tolist() if width == 1 else values.tolist()
            return Prediction(labels, indices, empty, values=values)
        raw_labels, raw_scores = self._session.run(self._outputs, feed)
        scores = np.asarray(raw_scores, dtype=np.float32).reshape(count)
        return Prediction(
            np.asarray(raw_labels).reshape(count).tolist(), indices, empty, scores=scores
        )

    def smoke_rows(self) -> Rows:
        """The contract's smoke rows (``modelcontract.smoke``: all zeros, then all ones; ``"0"``
        and ``"1"`` for strings), which the trainer ran before it wrote the model."""
        columns = smoke_columns(self.contract)
        if self.contract.float_rows:
            return np.asarray(columns[self.contract.inputs[0].name], dtype=np.float32)
        return Columns(
            {
                spec.name: np.asarray(columns[spec.name], dtype=DTYPES[spec.type])
                for spec in self.contract.inputs
            }
        )

    def smoke_test(self) -> None:
        """Predict a small batch and check the answer's shape and values; ModelError if wrong."""
        rows = self.smoke_rows()
        try:
            result = self.predict(rows)
        except ModelError:
            raise
        except Exception as exc:  # whatever ORT raises while running a broken graph
            raise ModelError(f"the smoke prediction failed: {_first_line(exc)}") from exc
        self._check_imputes(result)
        if self._kind == REGRESSOR:
            if result.values is None or not np.all(np.isfinite(result.values)):
                raise ModelError("the smoke prediction's values are not finite numbers")
            return
        if self._kind != CLASSIFIER:
            if result.scores is None or not np.all(np.isfinite(result.scores)):
                raise ModelError("the smoke prediction's scores are not finite numbers")
            if not set(result.labels) <= {-1, 1}:
                raise ModelError("the smoke prediction's outlier labels are not 1 or -1")
            return
        count = len(rows)
        expected = (count, len(self.contract.class_labels))
        if len(result.labels) != count:
            raise ModelError(
                f"the smoke prediction gave {len(result.labels)} labels for {count} rows"
            )
        if self._class_output == "label":
            return
        if self._class_output == "scores":
            scores = result.scores
            shape = None if scores is None else scores.shape
            if shape != expected:
                raise ModelError(
                    f"the smoke prediction gave scores of shape {shape}, not {expected}"
                )
            if scores is None or not np.all(np.isfinite(scores)):
                raise ModelError("the smoke prediction's scores are not finite numbers")
            return
        if result.probabilities.shape != expected:
            raise ModelError(
                f"the smoke prediction gave probabilities of shape "
                f"{result.probabilities.shape}, not {expected}"
            )
        sums = result.probabilities.sum(axis=1)
        if not np.all(np.isfinite(result.probabilities)) or not np.allclose(
            sums, 1.0, atol=_PROBABILITY_TOLERANCE
        ):
            raise ModelError("the smoke prediction's probabilities do not sum to 1")

    def _check_imputes(self, result: Prediction) -> None:
        """ModelError if the smoke row with the nullable features missing (the third) is
        answered with NaN or infinity: the contract says the model imputes them, it does not."""
        missing = self.contract.nullable_features
        numbers = (result.probabilities, result.scores, result.values)
        if missing and any(
            n is not None and n.size and not np.isfinite(n[2:]).all() for n in numbers
        ):
            raise ModelError(
                "the model answers NaN or infinity for a row whose nullable features "
                f"({', '.join(missing[:5])}) are missing: it does not impute them"
            )

    def info(self) -> dict[str, Any]:
        """What is running, for /info and the ``getModelInfo`` direct method."""
        return {
            "model_name": self.name,
            "model_version": self.version,
            "sha256": self.sha256,
            "size_bytes": self.size,
            "source": self.source,
            "loaded_at": self.loaded_at.isoformat().replace("+00:00", "Z"),
            "load_seconds": round(self.load_seconds, 4),
            **({"origin": dict(self.origin)} if self.origin else {}),
            "contract": self.contract.to_dict(),
        }


def runtime_versions() -> dict[str, str]:
    """The ONNX Runtime and predictor versions, reported so that an operator can query which
    devices can load a model of a given IR version and opsets (docs/model-contract.md)."""
    return {"onnxruntime": ort.__version__, "predictor": __version__}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
