"""Every known refusal is one ``trainer: error:`` line in our words: the estimator, what is not
supported, what to do instead; nothing before it (no ONNX Runtime log line), nothing written.

Each estimator is fitted once, on iris, and saved as a notebook would save it. Two cases run
``trainer convert`` as a real process; the rest run the CLI's ``main`` in this process, with the
process's file descriptors captured (ONNX Runtime's C++ logger writes to fd 2, not sys.stderr).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument, InvalidGraph
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris
from sklearn.ensemble import HistGradientBoostingClassifier, StackingClassifier
from sklearn.gaussian_process import GaussianProcessClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.multioutput import MultiOutputClassifier
from sklearn.naive_bayes import CategoricalNB
from sklearn.neighbors import KNeighborsClassifier, RadiusNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from tests.support.trainer_process import run_cli
from trainer.cli import main
from trainer.parity_report import ParityError
from trainer.refusals import (
    REFUSALS,
    UnsupportedModelError,
    check_supported,
    culprit,
    explain,
    parts,
)

IRIS = load_iris()
X = IRIS.data
Y = IRIS.target
BINARY = (Y == 2).astype(int)
COUNTS = np.round(X).astype(int)  # small whole numbers: categories for CategoricalNB and HGB


@dataclass(frozen=True)
class Case:
    """A fitted estimator the trainer refuses, its sample rows, and what its line must say."""

    make: Any
    rows: Any
    says: tuple[str, ...]


# The refusals of issue 25, each with the words its line must hold: the estimator, the cause and
# what to do instead.
CASES: dict[str, Case] = {
    "multi_output": Case(
        lambda: MultiOutputClassifier(LogisticRegression(max_iter=300)).fit(X, np.c_[Y, BINARY]),
        X,
        ("MultiOutputClassifier", "several labels per row", "one classifier per target"),
    ),
    "categorical_nb": Case(
        lambda: CategoricalNB().fit(COUNTS, Y),
        COUNTS,
        ("CategoricalNB", "category value it did not see", "OneHotEncoder"),
    ),
    "radius_neighbors": Case(
        lambda: make_pipeline(StandardScaler(), RadiusNeighborsClassifier(radius=1.0)).fit(X, Y),
        X,
        ("RadiusNeighborsClassifier", "no training point within its radius", "KNeighbors"),
    ),
    "gaussian_process": Case(
        lambda: GaussianProcessClassifier().fit(X[::3], BINARY[::3]),
        X,
        ("GaussianProcessClassifier", "com.microsoft operators", "use SVC or LogisticRegression"),
    ),
    "gaussian_process_3_classes": Case(
        lambda: GaussianProcessClassifier().fit(X[::3], Y[::3]),
        X,
        ("GaussianProcessClassifier", "only for two classes", "use SVC or LogisticRegression"),
    ),
    "stacking_linear_svc": Case(
        lambda: StackingClassifier(
            [("svc", LinearSVC()), ("lr", LogisticRegression(max_iter=300))]
        ).fit(X, BINARY),
        X,
        ("StackingClassifier", "without predict_proba (LinearSVC)", "CalibratedClassifierCV"),
    ),
    "native_categorical_hgb": Case(
        lambda: HistGradientBoostingClassifier(categorical_features=[0, 1], max_iter=5).fit(
            COUNTS, Y
        ),
        COUNTS,
        (
            "HistGradientBoostingClassifier",
            "native categorical features (input columns 0, 1)",
            "Encoder",
        ),
    ),
}
PROCESS_CASES = ("categorical_nb", "multi_output")  # ONNX Runtime's logger and numpy's message


def _write_csv(path: Path, rows: Any) -> Path:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(np.asarray(rows).tolist())
    return path


@pytest.fixture(scope="session")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """Each case's estimator file and sample CSV, fitted and written once."""
    folder = tmp_path_factory.mktemp("refused")
    files = {}
    for name, case in CASES.items():
        model = folder / f"{name}.joblib"
        joblib.dump(case.make(), model)
        files[name] = (model, _write_csv(folder / f"{name}.csv", case.rows))
    return files


def _argv(files: tuple[Path, Path], output: Path) -> list[str]:
    model, samples = files
    return ["convert", str(model), "-o", str(output), "--samples", str(samples)]


def _assert_one_line(err: str, out: str, output: Path, says: tuple[str, ...]) -> None:
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err  # nothing before it: no ONNX Runtime log, no warning
    assert lines[0].startswith("trainer: error: "), err
    for words in says:
        assert words in lines[0], lines[0]
    assert "ONNXRuntimeError" not in lines[0]  # the runtime's internals are not our words
    assert not output.exists()


@pytest.mark.parametrize("name", PROCESS_CASES)
def test_a_real_process_prints_one_line_in_our_words(
    name: str, saved: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    output = tmp_path / "out.onnx"
    result = run_cli([*_argv(saved[name], output), "--feature-names", "a,b,c,d"])
    assert result.returncode == 1
    _assert_one_line(result.stderr, result.stdout, output, CASES[name].says)


@pytest.mark.parametrize("name", [n for n in CASES if n not in PROCESS_CASES])
def test_the_cli_says_each_refusal_in_one_line(
    name: str,
    saved: dict[str, tuple[Path, Path]],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    output = tmp_path / "out.onnx"
    assert main([*_argv(saved[name], output), "--feature-names", "a,b,c,d"]) == 1
    captured = capfd.readouterr()
    _assert_one_line(captured.err, captured.out, output, CASES[name].says)


# The table itself.


def test_a_known_failure_is_said_for_the_step_of_the_pipeline_it_is_about() -> None:
    model = make_pipeline(StandardScaler(), RadiusNeighborsClassifier())
    runtime = InvalidArgument("ArrayFeatureExtractor ... index is out of range: Y[1] (-1)")
    try:
        try:
            raise runtime
        except InvalidArgument as exc:
            raise ParityError("parity gate failed: ONNX Runtime cannot run the model") from exc
    except ParityError as ours:
        message = explain(ours, model)  # found through the chain of causes
    assert message is not None and message.startswith("RadiusNeighborsClassifier has no answer")


def test_the_same_failure_is_said_for_the_estimator_that_has_it() -> None:
    runtime = InvalidArgument("ArrayFeatureExtractor: index is out of range")
    nb = explain(runtime, CategoricalNB())
    radius = explain(runtime, RadiusNeighborsClassifier())
    assert nb is not None and nb.startswith("CategoricalNB cannot answer a category value")
    assert radius is not None and radius.startswith("RadiusNeighborsClassifier has no answer")
    assert explain(runtime, KNeighborsClassifier()) is None  # another model: not ours to guess


def test_a_failure_needs_its_type_and_every_fragment() -> None:
    model = GaussianProcessClassifier()
    assert explain(NotImplementedError("Only binary classification is iplemented."), model)
    assert explain(RuntimeError("Only binary classification is iplemented."), model) is None
    assert explain(InvalidArgument("ArrayFeatureExtractor failed"), CategoricalNB()) is None
    assert explain(ValueError("something else"), MultiOutputClassifier(LinearSVC())) is None


def test_a_rule_about_any_model_names_the_final_step() -> None:
    model = make_pipeline(StandardScaler(), HistGradientBoostingClassifier())
    message = explain(RuntimeError("at most 1 input(s) is(are) supported but we got 5"), model)
    assert message is not None and message.startswith("HistGradientBoostingClassifier takes one")


def test_every_rule_names_a_remedy() -> None:
    stacking = StackingClassifier([("svc", LinearSVC())]).fit(X, BINARY)
    for refusal in REFUSALS:
        text = refusal.say(stacking)
        assert text.startswith("StackingClassifier ")
        assert " instead" in text or " before it" in text


def test_parts_walk_pipelines_column_transformers_and_ensembles() -> None:
    inner = StackingClassifier([("svc", CalibratedClassifierCV(LinearSVC()))])
    model = make_pipeline(ColumnTransformer([("num", StandardScaler(), [0, 1])]), inner)
    model.fit(X, BINARY)  # the fitted members are what is exported
    fitted = model.steps[-1][1]
    names = [type(part).__name__ for part in parts(model)]
    assert names == [
        "Pipeline",
        "ColumnTransformer",
        "StandardScaler",
        "StackingClassifier",
        "CalibratedClassifierCV",
        "LinearSVC",
        "LogisticRegression",  # the final estimator
    ]
    assert culprit(model, ("LinearSVC",)) is fitted.estimators_[0].estimator
    assert culprit(model, ("CategoricalNB",)) is None


def test_native_categorical_features_are_refused_before_conversion() -> None:
    fitted = HistGradientBoostingClassifier(categorical_features=[2], max_iter=3).fit(COUNTS, Y)
    with pytest.raises(
        UnsupportedModelError, match=r"native categorical features \(input columns 2\)"
    ):
        check_supported(make_pipeline(StandardScaler(), fitted))
    check_supported(HistGradientBoostingClassifier(max_iter=3).fit(X, Y))  # plain: accepted


@pytest.mark.parametrize(
    ("estimator", "raised", "starts"),
    [  # the messages as issue 25 quotes them (other versions, other data)
        (
            GaussianProcessClassifier(),
            InvalidGraph("com.microsoft:Solve(-1) is not a registered function/op"),
            "GaussianProcessClassifier cannot be served: its ONNX graph needs com.microsoft",
        ),
        (
            make_pipeline(StandardScaler(), StackingClassifier([("svc", LinearSVC())])),
            RuntimeError("Option 'zipmap' not in ['raw_scores', 'output_class_labels']"),
            "StackingClassifier has a base estimator without predict_proba",
        ),
        (
            HistGradientBoostingClassifier(),
            RuntimeError("at most 1 input(s) is(are) supported but we got 5"),
            "HistGradientBoostingClassifier takes one numeric input",
        ),
        (
            CategoricalNB(),
            InvalidArgument(
                "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Non-zero status code returned while "
                "running ArrayFeatureExtractor node. Status Message: Invalid Y argument: index is "
                "out of range: Y[130] (-1) must be in [0, 8)"
            ),
            "CategoricalNB cannot answer a category value",
        ),
    ],
)
def test_the_messages_quoted_in_the_issue_are_known(
    estimator: Any, raised: BaseException, starts: str
) -> None:
    message = explain(raised, estimator)
    assert message is not None and message.startswith(starts), message
