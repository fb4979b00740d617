"""Notebook models served by the real predictor process (``python -m predictor``, the model as its
bundle), exported by ``build_export``: a pipeline picking columns by name, and an imputing
pipeline asked with complete rows, as a list and by feature name.

The classifiers without probabilities (scores, label alone) and rows with ``null`` for a nullable
feature, converted from ``df.to_csv()`` samples by the trainer process, are served in
tests/byom/test_notebook_end_to_end.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.edge_module import post
from tests.support.predictor_process import predictor


@pytest.mark.parametrize("name", ["columns_by_name", "imputer_pipeline"])
def test_the_predictor_serves_a_notebook_pipeline_like_scikit_learn(
    notebook_models: dict[str, Any], name: str, tmp_path: Path
) -> None:
    fitted, exported = notebook_models[name]
    complete = fitted.rows.dropna()
    expected = fitted.estimator.predict(complete).tolist()
    probabilities = fitted.estimator.predict_proba(complete)
    (tmp_path / "bundled.onnx").write_bytes(exported.data)
    with predictor(tmp_path) as module:
        answer = post(module, {"instances": complete.to_numpy().tolist()})
        assert [p["label"] for p in answer["predictions"]] == expected
        served = [
            [p["probabilities"][str(c)] for c in fitted.estimator.classes_]
            for p in answer["predictions"]
        ]
        np.testing.assert_allclose(served, probabilities, rtol=0, atol=1e-5)
        # One row by feature name, as a sensor sends it.
        one = post(module, complete.iloc[0].to_dict())
        assert one["label"] == expected[0]
    assert module.process.returncode == 0, module.log.read_text()
