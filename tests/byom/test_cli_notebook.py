"""``trainer convert --samples`` with the CSV a notebook writes (``df.to_csv()``: the index
column, empty cells for missing values), for the models a notebook fits first."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pytest

from tests.support import byom_models as models
from tests.support.trainer_process import run_cli
from trainer import samples
from trainer.cli import main
from trainer.estimator import ExportError
from trainer.model_file import read_model_file


def saved(tmp_path: Path, name: str, fitted: models.Fitted) -> tuple[Path, Path]:
    """The estimator as ``joblib.dump`` writes it, its rows as ``df.to_csv()`` writes them."""
    model, rows = tmp_path / f"{name}.joblib", tmp_path / f"{name}.csv"
    joblib.dump(fitted.estimator, model)
    fitted.rows.to_csv(rows)
    return model, rows


@pytest.mark.parametrize(
    ("name", "class_output"),
    [
        ("default_svc", "scores"),
        ("linear_svc", "scores"),
        ("sgd_classifier", "scores"),
        ("hard_voting", "label"),
        ("columns_by_name", None),
    ],
)
def test_convert_a_notebook_classifier(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, class_output: str | None
) -> None:
    fitted = getattr(models, name)()
    model, rows = saved(tmp_path, name, fitted)
    output = tmp_path / f"{name}.onnx"
    argv = ["convert", str(model), "-o", str(output), "--samples", str(rows)]
    assert main([*argv, "--parity-points", "500"]) == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert summary.get("class_output") == class_output
    assert summary["parity"]["disagreeing"] == 0
    contract = read_model_file(output).contract
    assert contract.feature_names == tuple(fitted.rows.columns)
    assert contract.class_output == (class_output or "probabilities")


def test_convert_an_imputer_pipeline_from_a_csv_with_empty_cells_as_a_real_process(
    tmp_path: Path,
) -> None:
    fitted = models.imputer_pipeline()
    model, rows = saved(tmp_path, "wine_imputer", fitted)
    assert ",," in rows.read_text()  # df.to_csv() writes NaN as an empty cell
    output = tmp_path / "wine.onnx"
    result = run_cli(["convert", str(model), "-o", str(output), "--samples", str(rows)])
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    summary = json.loads(result.stdout)
    gapped = ["alcohol", "magnesium", "color_intensity"]
    assert summary["nullable_features"] == gapped
    assert read_model_file(output).contract.nullable_features == tuple(gapped)
    assert summary["parity"]["points"] == len(fitted.rows) + 3000


def test_convert_a_typed_pipeline_whose_number_column_has_empty_cells(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fitted = models.ordinal_imputer_boosting()
    model, rows = saved(tmp_path, "pumps", fitted)
    output = tmp_path / "pumps.onnx"
    assert main(["convert", str(model), "-o", str(output), "--samples", str(rows)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["nullable_features"] == ["vibration"]
    assert [i["type"] for i in summary["inputs"]] == ["string", "float", "float"]


def test_a_model_that_cannot_impute_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    complete = models.columns_by_name()  # fitted on complete rows, imputes nothing
    gapped = models.Fitted(complete.estimator, models.with_gaps(complete.rows, 0.1, ["bmi"]))
    model, rows = saved(tmp_path, "no_imputer", gapped)
    output = tmp_path / "out.onnx"
    assert main(["convert", str(model), "-o", str(output), "--samples", str(rows)]) != 0
    captured = capsys.readouterr()
    assert captured.err.startswith(
        "trainer: error: the sample rows leave 'bmi' missing, but Pipeline cannot take a "
        "missing value (Input X contains NaN"
    )
    assert len(captured.err.strip().splitlines()) == 1 and not output.exists()


def test_empty_cells_and_nan_are_missing_numbers_never_text(tmp_path: Path) -> None:
    plain = tmp_path / "plain.csv"
    plain.write_text(",a,b,c\n0,1.5,,2\n1,NaN,3,nan\n2,1,2,3\n")
    header, rows = samples.read_samples(plain)
    assert header == ["a", "b", "c"]  # the unnamed index column of df.to_csv() is dropped
    np.testing.assert_array_equal(rows, [[1.5, np.nan, 2], [np.nan, 3, np.nan], [1, 2, 3]])
    typed = tmp_path / "typed.csv"
    typed.write_text("site,reading\nnorth,\nsouth,2.5\n")
    header, frame = samples.read_samples(typed)
    assert frame["reading"].dtype == np.float64 and np.isnan(frame["reading"][0])
    assert frame["site"].tolist() == ["north", "south"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1,inf\n", "line 2 holds an infinite value"),
        ("1,2\n1,x\n", "line 2 holds a value that is not a number"),
        ("site,b\nx,-inf\n", "column 'b' holds an infinite value"),
    ],
)
def test_sample_files_that_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(text)
    with pytest.raises(ExportError, match=message):
        samples.read_samples(path)
