"""``python -m trainer convert``: a joblib file in, a verified ONNX file out, or one error line
naming the cause and nothing written."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.semi_supervised import LabelPropagation

from tests.byom.conftest import Foreign
from tests.support.trainer_process import run_cli
from trainer import samples
from trainer.cli import main
from trainer.estimator import ExportError
from trainer.model_file import read_model_file

IRIS = load_iris()
NAMES = "sl,sw,pl,pw"


def write_csv(path: Path, rows: Any, header: Any = None) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        if header is not None:
            writer.writerow(header)
        writer.writerows(np.asarray(rows).tolist())
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Estimator files as a notebook would save them, and sample CSVs."""
    folder = tmp_path_factory.mktemp("estimators")
    x, y = IRIS.data, IRIS.target
    estimators = {
        "iris_lr": LogisticRegression(max_iter=500).fit(x, y),
        "regressor": LinearRegression().fit(x, y),
        "clusterer": KMeans(n_clusters=3, n_init=1, random_state=0).fit(x),
        "propagation": LabelPropagation().fit(x, y),
    }
    paths = {}
    for name, estimator in estimators.items():
        paths[name] = folder / f"{name}.joblib"
        joblib.dump(estimator, paths[name])
    paths["samples"] = write_csv(folder / "iris.csv", x)
    paths["samples_header"] = write_csv(folder / "iris-header.csv", x, NAMES.split(","))
    return paths


def assert_refused(
    capsys: pytest.CaptureFixture[str], argv: list[str], output: Path, *fragments: str
) -> None:
    assert main(argv) != 0
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("trainer: error: "), captured.err
    for fragment in fragments:
        assert fragment in lines[0]
    assert captured.out == ""
    assert not output.exists()  # nothing written
    assert not list(output.parent.glob(f".{output.name}.*"))  # no temporary file left


def test_convert_a_dataframe_pipeline_as_a_real_process(wine: Foreign, tmp_path: Path) -> None:
    model = tmp_path / "wine_lr.joblib"
    joblib.dump(wine.estimator, model)
    samples = write_csv(tmp_path / "wine.csv", wine.features, wine.feature_names)
    output = tmp_path / "wine.onnx"
    result = run_cli(
        [
            "convert",
            str(model),
            "--output",
            str(output),
            "--samples",
            str(samples),
            "--labels",
            "0,1,2",
            "--version",
            "2026.11.25",
            "--parity-points",
            "1000",
        ]
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    contract = read_model_file(output).contract
    assert contract.model_name == "wine-lr"  # from the file name
    assert contract.model_version == "2026.11.25"
    assert contract.class_labels == (0, 1, 2)
    assert contract.feature_names == wine.feature_names
    assert summary["parity"] == {
        "points": len(wine.features) + 1000,
        "tolerance": 1e-04,
        "max_probability_difference": summary["parity"]["max_probability_difference"],
        "disagreeing": 0,
        "input_range": {k: list(v) for k, v in contract.input_range.items()},
    }
    assert set(contract.input_range) == set(wine.feature_names)
    assert summary["estimator"] == "Pipeline"
    assert summary["output"] == str(output)


def test_a_clusterer_is_refused_by_a_real_process(files: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "out.onnx"
    result = run_cli(
        [
            "convert",
            str(files["clusterer"]),
            "-o",
            str(output),
            "--samples",
            str(files["samples"]),
            "--feature-names",
            NAMES,
        ]
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "trainer: error: KMeans is not a classifier, a regressor or an outlier detector: only "
        "those (or a pipeline ending in one) can be served"
    )
    assert not output.exists()


def test_a_20_tree_forest_with_probability_ties_is_accepted_as_a_new_user_would_convert_it(
    tmp_path: Path,
) -> None:
    # Refused before contract v2's gate: 4 of 3,569 points were exact probability ties whose
    # argmax float32 and float64 break differently (|dp| 6e-8). Such a tie is not a disagreement.
    data = load_breast_cancer()
    forest = RandomForestClassifier(n_estimators=20, random_state=0).fit(data.data, data.target)
    model = tmp_path / "cancer_rf.joblib"
    joblib.dump(forest, model)
    names = [str(n).replace(" ", "_") for n in data.feature_names]
    samples = write_csv(tmp_path / "cancer.csv", data.data, names)
    output = tmp_path / "cancer.onnx"
    result = run_cli(["convert", str(model), "-o", str(output), "--samples", str(samples)])
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)["parity"]
    assert report["disagreeing"] == 0
    assert report["ties"] > 0  # the ties are there, counted, and not held against the model
    assert report["points"] == len(data.data) + 3000
    assert read_model_file(output).contract.class_labels == (0, 1)


def test_convert_a_regressor(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "iris-reg.onnx"
    argv = ["convert", str(files["regressor"]), "-o", str(output), "--samples"]
    assert main([*argv, str(files["samples_header"]), "--parity-points", "100"]) == 0
    summary = json.loads(capsys.readouterr().out)
    contract = read_model_file(output).contract
    assert (contract.kind, contract.version) == ("regressor", "2")
    assert contract.target_names == ("value",)
    assert summary["kind"] == "regressor" and summary["parity"]["kind"] == "regressor"
    assert summary["parity"]["disagreeing"] == 0


def test_names_from_the_csv_header_and_flags(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "iris.onnx"
    argv = ["convert", str(files["iris_lr"]), "-o", str(output), "--name", "iris-lr"]
    assert main([*argv, "--samples", str(files["samples_header"]), "--parity-points", "10"]) == 0
    assert read_model_file(output).contract.feature_names == tuple(NAMES.split(","))
    assert json.loads(capsys.readouterr().out)["parity"]["points"] == 160


@pytest.mark.parametrize(
    ("model", "extra", "fragments"),
    [
        pytest.param(
            "propagation",
            ["--feature-names", NAMES],
            ["skl2onnx cannot convert LabelPropagation"],
            id="unconvertible",
        ),
        pytest.param(
            "clusterer",
            ["--feature-names", NAMES],
            ["is not a classifier, a regressor or an outlier detector"],
            id="clusterer",
        ),
        pytest.param(
            "iris_lr",
            ["--feature-names", "a,b,c"],
            ["3 feature names given but the estimator takes 4 features"],
            id="feature-names",
        ),
        pytest.param(
            "iris_lr",
            [],
            ["does not know its 4 feature names", "--feature-names"],
            id="feature-names-missing",
        ),
        pytest.param(
            "iris_lr",
            ["--feature-names", NAMES, "--labels", "setosa,versicolor,virginica"],
            ["do not match the estimator's classes_"],
            id="labels",
        ),
        pytest.param(
            "iris_lr",
            ["--feature-names", NAMES, "--parity-tolerance", "0"],
            ["parity gate failed", "points disagree"],
            id="parity",
        ),
        pytest.param(
            "iris_lr",
            ["--feature-names", NAMES, "--parity-tolerance", "0.002"],
            ["the parity tolerance must be between 0 and 0.001", "not float32's rounding"],
            id="tolerance-past-its-bound",
        ),
    ],
)
def test_each_refusal_is_one_line_and_writes_nothing(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    model: str,
    extra: list[str],
    fragments: list[str],
) -> None:
    output = tmp_path / "out.onnx"
    argv = ["convert", str(files[model]), "-o", str(output), "--samples", str(files["samples"])]
    assert_refused(capsys, [*argv, "--name", "refused", *extra], output, *fragments)


def test_bad_inputs_are_one_line_each(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out.onnx"
    model = str(files["iris_lr"])
    base = ["convert", model, "-o", str(output), "--feature-names", NAMES]
    not_pickle = tmp_path / "notes.joblib"
    not_pickle.write_text("not a pickle")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("1,2,3,4\n\n1,2,3\n")  # the blank line still counts
    words = tmp_path / "words.csv"
    words.write_text("1,2,3,4\n1,2,x,4\n")
    wrong_header = write_csv(tmp_path / "wrong.csv", IRIS.data[:5], ["a", "b", "c", "d"])
    empty = tmp_path / "empty.csv"
    empty.write_text("\n")
    samples = ["--samples", str(files["samples"])]
    a_dict, empty_model = tmp_path / "dict.joblib", tmp_path / "empty.joblib"
    joblib.dump({"not": "a model"}, a_dict)
    empty_model.write_bytes(b"")
    # A pickle of a class from a module that is not installed here.
    foreign = tmp_path / "foreign.joblib"
    foreign.write_bytes(b"\x80\x04\x8c\x0cno_such_code\x94\x8c\x03Foo\x94\x93\x94)\x81\x94.")
    cases: list[tuple[list[str], list[str]]] = [
        (["convert", str(a_dict), "-o", str(output), *samples], ["dict is not a classifier"]),
        (["convert", str(empty_model), "-o", str(output), *samples], ["empty or cut short"]),
        (
            ["convert", str(foreign), "-o", str(output), *samples],
            ["needs code that is not installed here", "no_such_code"],
        ),
        (["convert", str(tmp_path), "-o", str(output), *samples], ["is a directory"]),
        (base, ["the parity gate needs sample rows: pass --samples"]),
        ([*base, "--samples", str(ragged)], ["line 3 has 3 values, not 4"]),
        ([*base, "--samples", str(words)], ["line 2 holds a value that is not a number"]),
        ([*base, "--samples", str(wrong_header)], ["header", "does not match --feature-names"]),
        ([*base, "--samples", str(empty)], ["holds no sample rows"]),
        ([*base, "--samples", str(tmp_path / "missing.csv")], ["missing.csv"]),
        (
            ["convert", str(not_pickle), "-o", str(output), *samples],
            ["cannot load", "as a joblib or pickle file"],
        ),
        (["convert", str(tmp_path / "none.joblib"), "-o", str(output), *samples], ["no such file"]),
        (["convert", str(files["iris_lr"]), "-o", str(tmp_path / "no" / "x.onnx")], ["no" + "/"]),
        ([*base, *samples, "--name", "Bad Name"], ["model name 'Bad Name'"]),
        ([*base, *samples, "--feature-names", "a,,b"], ["comma-separated names"]),
    ]
    for argv, fragments in cases:
        assert_refused(capsys, argv, output, *fragments)


def test_a_file_name_that_makes_no_model_name_asks_for_name(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = tmp_path / "Über Modell!.joblib"
    odd.write_bytes(files["iris_lr"].read_bytes())
    output = tmp_path / "out.onnx"
    argv = ["convert", str(odd), "-o", str(output), "--samples", str(files["samples"])]
    assert_refused(capsys, argv, output, "cannot make a model name", "pass --name")


def test_a_sample_file_past_the_limit_is_refused_while_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(samples, "MAX_SAMPLE_ROWS", 3)
    too_many = write_csv(tmp_path / "many.csv", IRIS.data[:5], NAMES.split(","))
    with pytest.raises(ExportError, match="holds more than 3 sample rows"):
        samples.read_samples(too_many)
    header, rows = samples.read_samples(write_csv(tmp_path / "ok.csv", IRIS.data[:3]))
    assert header is None and rows.shape == (3, 4)


def test_convert_a_dataframe_pipeline_with_text_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.support.byom_models import column_transformer_pipeline

    fitted = column_transformer_pipeline()
    model = tmp_path / "pumps.joblib"
    joblib.dump(fitted.estimator, model)
    samples = tmp_path / "pumps.csv"
    fitted.rows.to_csv(samples, index=False)
    output = tmp_path / "pumps.onnx"
    assert main(["convert", str(model), "-o", str(output), "--samples", str(samples)]) == 0
    summary = json.loads(capsys.readouterr().out)
    # Text columns are strings, number columns floats (a CSV does not say int64).
    assert summary["inputs"] == [
        {"name": "site", "type": "string", "shape": [None, 1]},
        {"name": "pump", "type": "string", "shape": [None, 1]},
        {"name": "vibration", "type": "float", "shape": [None, 1]},
        {"name": "starts", "type": "float", "shape": [None, 1]},
    ]
    assert summary["parity"]["disagreeing"] == 0
    assert read_model_file(output).contract.class_labels == ("failing", "ok")
