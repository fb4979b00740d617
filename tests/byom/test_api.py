"""The notebook API: export_model gives any fitted classifier the contract and the parity gate;
every refusal names its cause; publish_model uploads to a real Azurite."""

from __future__ import annotations

import hashlib
import json
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelPropagation
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

import trainer
from devtools.azurite import Azurite
from tests.byom.conftest import Foreign
from trainer import (
    ConversionError,
    ExportError,
    FeatureMismatchError,
    LabelMismatchError,
    NotAClassifierError,
    ParityError,
    export_model,
    publish_model,
)
from trainer.contract import read
from trainer.errors import TrainerError
from trainer.storage import StorageError

IRIS = load_iris()
X = np.asarray(IRIS.data)
NAMES = ["sl", "sw", "pl", "pw"]


def metadata(data: bytes) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load_from_string(data).metadata_props}


def label_type(data: bytes) -> int:
    model = onnx.load_from_string(data)
    (label,) = [o for o in model.graph.output if o.name == "label"]
    return int(label.type.tensor_type.elem_type)


def onnx_labels(data: bytes, rows: Any) -> list[Any]:
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    (labels,) = session.run(["label"], {"input": np.asarray(rows, dtype=np.float32)})
    return [x.item() if hasattr(x, "item") else x for x in labels]


def test_the_public_api_is_exported() -> None:
    assert {"export_model", "publish_model", "ExportError", "ParityError"} <= set(trainer.__all__)


def test_wine_keeps_integer_labels_and_the_dataframe_columns(wine: Foreign) -> None:
    contract = read(onnx.load_from_string(wine.onnx))
    assert contract.model_name == "wine-lr" and contract.model_version == "1"
    assert contract.feature_names == wine.feature_names and len(contract.feature_names) == 13
    assert "od280/od315_of_diluted_wines" in contract.feature_names
    assert contract.class_labels == (0, 1, 2)
    assert metadata(wine.onnx)["class_labels"] == "[0,1,2]"  # JSON ints, not strings
    assert label_type(wine.onnx) == onnx.TensorProto.INT64
    assert set(json.loads(metadata(wine.onnx)["library_versions"])) >= {"scikit-learn", "skl2onnx"}
    assert onnx_labels(wine.onnx, wine.features) == wine.sklearn_labels()


def test_breast_cancer_keeps_string_labels_and_the_given_names(cancer: Foreign) -> None:
    contract = read(onnx.load_from_string(cancer.onnx))
    assert contract.feature_names == cancer.feature_names and len(contract.feature_names) == 30
    assert contract.class_labels == ("benign", "malignant")
    assert label_type(cancer.onnx) == onnx.TensorProto.STRING
    assert onnx_labels(cancer.onnx, cancer.features) == cancer.sklearn_labels()


def test_feature_ranges_instead_of_samples_and_matching_names_and_labels() -> None:
    estimator = LogisticRegression(max_iter=500).fit(X, IRIS.target)
    exported = trainer.byom.build_export(
        estimator,
        name="iris-ranges",
        version="2",
        feature_names=NAMES,
        class_labels=["0", "1", "2"],  # as typed on a command line: they mean the ints
        feature_ranges=[(4.0, 8.0), (2.0, 4.5), (1.0, 7.0), (0.1, 2.5)],
        parity_points=500,
        training_metrics={"holdout_accuracy": 0.97},
    )
    assert exported.contract.class_labels == (0, 1, 2)
    assert exported.parity.points == 2 + 500  # the two range corners and the random points
    assert exported.parity.passed
    assert json.loads(metadata(exported.data)["training_metrics"]) == {"holdout_accuracy": 0.97}
    assert exported.summary()["parity"]["disagreeing"] == 0


def fitted(estimator: Any, labels: Any = None) -> Any:
    return estimator.fit(X, IRIS.target if labels is None else labels)


def logistic() -> Any:
    """A model the exporter takes: each refusal made with it comes from the options alone."""
    return fitted(LogisticRegression(max_iter=500))


@pytest.mark.parametrize(
    ("make", "options", "error", "fragment"),
    [
        pytest.param(
            lambda: fitted(LabelPropagation()),
            {"feature_names": NAMES},
            ConversionError,
            "skl2onnx cannot convert LabelPropagation",
            id="unconvertible",
        ),
        pytest.param(
            lambda: KMeans(n_clusters=3, n_init=1).fit(X),
            {"feature_names": NAMES},
            NotAClassifierError,
            "KMeans is not a classifier, a regressor or an outlier detector",
            id="clusterer",
        ),
        pytest.param(
            lambda: {"coef": [1, 2]},
            {"feature_names": NAMES},
            NotAClassifierError,
            "dict is not a classifier, a regressor or an outlier detector",
            id="not-an-estimator",
        ),
        pytest.param(
            lambda: LogisticRegression(),
            {"feature_names": NAMES},
            ExportError,
            "LogisticRegression is not fitted",
            id="unfitted",
        ),
        pytest.param(
            lambda: fitted(SVC(decision_function_shape="ovo")),
            {"feature_names": NAMES},
            NotAClassifierError,
            "SVC has decision_function_shape='ovo': its decision function scores pairs of "
            "classes, not each class; fit it with 'ovr' (the default)",
            id="one-vs-one-scores",
        ),
        pytest.param(
            logistic,
            {"feature_names": NAMES[:3]},
            FeatureMismatchError,
            "3 feature names given but the estimator takes 4 features (n_features_in_)",
            id="feature-count",
        ),
        pytest.param(
            logistic,
            {},
            FeatureMismatchError,
            "does not know its 4 feature names",
            id="feature-names-unknown",
        ),
        pytest.param(
            logistic,
            {"feature_names": ["a", "a", "b", "c"]},
            FeatureMismatchError,
            "feature names repeat",
            id="feature-names-repeat",
        ),
        pytest.param(
            logistic,
            {"feature_names": NAMES, "class_labels": ["setosa", "versicolor", "virginica"]},
            LabelMismatchError,
            "do not match the estimator's classes_ [0, 1, 2]",
            id="labels",
        ),
        pytest.param(
            logistic,
            {"feature_names": NAMES, "class_labels": [2, 1, 0]},
            LabelMismatchError,
            "same labels, same order",
            id="labels-order",
        ),
        pytest.param(
            lambda: fitted(DecisionTreeClassifier(), IRIS.target.astype(float)),
            {"feature_names": NAMES},
            LabelMismatchError,
            "float64",
            id="float-labels",
        ),
        pytest.param(
            logistic,
            # ONNX Runtime computes in float32, scikit-learn in float64: never exactly equal.
            {"feature_names": NAMES, "parity_tolerance": 0.0},
            ParityError,
            "parity gate failed",
            id="parity",
        ),
        pytest.param(
            logistic,
            {"feature_names": NAMES, "sample_rows": None},
            ExportError,
            "the parity gate needs sample rows",
            id="no-samples",
        ),
        pytest.param(
            logistic,
            {"feature_names": NAMES, "sample_rows": X[:, :3]},
            ExportError,
            "a non-empty table of 4 columns",
            id="samples-width",
        ),
        pytest.param(
            logistic,
            {"feature_names": NAMES, "sample_rows": [[1, 2, 3, 4], [1, 2, 3, float("nan")]]},
            ExportError,
            "the sample rows leave 'pw' missing, but LogisticRegression cannot take a missing "
            "value (Input X contains NaN",
            id="samples-nan",
        ),
        pytest.param(
            logistic,
            {"feature_names": NAMES, "sample_rows": [[1, 2, 3, float("nan")]]},
            ExportError,
            "the sample rows leave a feature missing in every row",
            id="samples-all-nan",
        ),
        pytest.param(
            logistic,
            {"feature_names": NAMES, "sample_rows": [[1, 2, 3, float("inf")]]},
            ExportError,
            "the sample rows hold infinite values",
            id="samples-infinite",
        ),
        pytest.param(
            logistic,
            {"feature_names": NAMES, "training_metrics": {"accuracy": np.float32(0.9)}},
            ExportError,
            "training_metrics must hold plain JSON values",
            id="metrics",
        ),
        pytest.param(
            logistic,
            {"feature_names": NAMES, "parity_points": -1},
            ValueError,
            "random parity points must be 0 to 100000, not -1",
            id="parity-points",
        ),
        pytest.param(
            logistic,
            {"feature_names": NAMES, "sample_rows": None, "feature_ranges": [(1, 0)] * 4},
            ExportError,
            "low <= high",
            id="ranges",
        ),
    ],
)
def test_each_refusal_names_its_cause(
    make: Any, options: dict[str, Any], error: type[Exception], fragment: str
) -> None:
    kwargs: dict[str, Any] = {"name": "refused", "version": "1", "sample_rows": X[:20]}
    kwargs.update(options)
    with pytest.raises(error) as raised:
        export_model(make(), **kwargs)
    assert fragment in str(raised.value)
    assert "\n" not in str(raised.value)


def test_dataframe_names_must_match_what_is_given(wine: Foreign) -> None:
    wrong = [f"f{i}" for i in range(13)]
    with pytest.raises(
        FeatureMismatchError, match="do not match the estimator's feature_names_in_"
    ):
        export_model(wine.estimator, name="wine-lr", feature_names=wrong, sample_rows=wine.features)


def test_a_bad_model_name_is_refused_before_any_work() -> None:
    with pytest.raises(ValueError, match="model name 'Wine Model'"):
        export_model(LogisticRegression(), name="Wine Model", sample_rows=X)


def test_publish_uploads_and_gives_the_twin_patch(
    azurite: Azurite, wine: Foreign, tmp_path: Path
) -> None:
    container = f"byom-{uuid.uuid4().hex[:12]}"
    deployment = tmp_path / "layered.json"
    published = publish_model(
        wine.onnx,
        container,
        connection_string=azurite.connection_string,
        sas_days=7,
        layered_deployment=deployment,
        target_condition="tags.ring='canary'",
    )
    sha256 = hashlib.sha256(wine.onnx).hexdigest()
    assert published.name == "wine-lr" and published.version == "1"
    assert published.sha256 == sha256
    assert published.twin_patch["model"]["sha256"] == sha256
    assert published.twin_patch["model"]["version"] == "1"
    with urllib.request.urlopen(published.twin_patch["model"]["url"], timeout=10) as response:
        assert response.read() == wine.onnx  # the devices' read-only URL works
    layered = json.loads(deployment.read_text())
    assert layered["targetCondition"] == "tags.ring='canary'"
    desired = layered["content"]["modulesContent"]["predictor"]["properties.desired.model"]
    assert desired == published.twin_patch["model"]
    assert published.layered_deployment is not None
    assert published.layered_deployment["id"] == "wine-lr-1"

    with pytest.raises(StorageError, match="already exists"):
        publish_model(wine.onnx, container, connection_string=azurite.connection_string)
    again = publish_model(
        wine.onnx, container, connection_string=azurite.connection_string, overwrite=True
    )
    assert again.sha256 == sha256


def test_publish_refuses_bytes_without_a_contract(azurite: Azurite) -> None:
    with pytest.raises(TrainerError, match="not an ONNX model"):
        publish_model(b"not onnx", connection_string=azurite.connection_string)


def test_publish_without_a_connection_string_says_so(
    monkeypatch: pytest.MonkeyPatch, wine: Foreign
) -> None:
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    with pytest.raises(StorageError, match="AZURE_STORAGE_CONNECTION_STRING is not set"):
        publish_model(wine.onnx)


def test_wine_with_string_names_as_labels() -> None:
    """The same data set with the other kind of labels: string class names."""
    data = load_wine()
    labels = np.asarray(data.target_names)[data.target]
    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    estimator.fit(data.data, labels)
    names = [str(n) for n in data.feature_names]
    onnx_bytes = export_model(
        estimator, name="wine-names", feature_names=names, sample_rows=data.data
    )
    assert read(onnx.load_from_string(onnx_bytes)).class_labels == ("class_0", "class_1", "class_2")
    assert onnx_labels(onnx_bytes, data.data) == list(estimator.predict(data.data))
