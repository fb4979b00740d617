"""Gradient-boosted trees for skl2onnx: XGBoost and LightGBM through onnxmltools, and a fix for
HistGradientBoosting.

skl2onnx converts XGBoost and LightGBM models, alone or inside a scikit-learn pipeline, once
onnxmltools' converters are registered with it (``update_registered_converter``, as skl2onnx's
documentation shows). Registration happens only when the library is already imported: a user with
an XGBoost model has imported xgboost to fit or unpickle it, and everyone else does not pay for
importing it.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

_registered: set[str] = set()


def register_loaded() -> None:
    """Register the converters of the boosting libraries imported so far (once each)."""
    if "xgboost" in sys.modules and "xgboost" not in _registered:
        _register_xgboost()
        _registered.add("xgboost")
    if "lightgbm" in sys.modules and "lightgbm" not in _registered:
        _register_lightgbm()
        _registered.add("lightgbm")
    if "hgb" not in _registered:
        _fix_histogram_boosting()
        _registered.add("hgb")


def convertible(estimator: Any) -> Any:
    """``estimator``, or a copy of it that onnxmltools can convert.

    onnxmltools reads XGBoost's trees from their text dump, which names the features as the
    booster knows them; it understands only ``f0``, ``f1``... A model fitted on a DataFrame
    names them after its columns, so the copy's boosters forget the names (the columns are in
    the same order). The user's model is left as it is.
    """
    if "xgboost" not in sys.modules or not any(
        getattr(_booster(step), "feature_names", None) for step in _steps(estimator)
    ):
        return estimator
    clone = copy.deepcopy(estimator)
    for step in _steps(clone):
        booster = _booster(step)
        if booster is not None:
            booster.feature_names = None
    return clone


def _steps(estimator: Any) -> list[Any]:
    """The estimator and everything inside it: pipeline steps, column transformer parts."""
    found = [estimator]
    for _, step in getattr(estimator, "steps", None) or []:
        found.extend(_steps(step))
    for _, part, _ in getattr(estimator, "transformers_", None) or []:
        found.extend(_steps(part))
    return found


def _booster(step: Any) -> Any:
    from xgboost import XGBModel

    return step.get_booster() if isinstance(step, XGBModel) else None


def _register_xgboost() -> None:
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )
    from xgboost import XGBClassifier, XGBRegressor

    update_registered_converter(
        XGBClassifier,
        "XGBoostXGBClassifier",
        calculate_linear_classifier_output_shapes,
        convert_xgboost,
        options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
    )
    update_registered_converter(
        XGBRegressor,
        "XGBoostXGBRegressor",
        calculate_linear_regressor_output_shapes,
        convert_xgboost,
    )


def _register_lightgbm() -> None:
    from lightgbm import LGBMClassifier, LGBMRegressor
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    update_registered_converter(
        LGBMClassifier,
        "LightGbmLGBMClassifier",
        calculate_linear_classifier_output_shapes,
        convert_lightgbm,
        options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
    )
    update_registered_converter(
        LGBMRegressor,
        "LightGbmLGBMRegressor",
        calculate_linear_regressor_output_shapes,
        convert_lightgbm,
        # 'split' sums the trees in float64 chunks: fewer float32 discrepancies on long ensembles.
        options={"split": None},
    )


def _fix_histogram_boosting() -> None:
    """Two fixes to skl2onnx 1.20's HistGradientBoosting trees.

    - It gives leaves a Python ``False`` where ONNX wants an integer
      (``nodes_missing_value_tracks_true``), which onnx 1.23 refuses: cast it.
    - It rounds each float64 threshold to the nearest float32, so a float32 input between the
      two goes the other way than in scikit-learn (the parity gate saw 14 of 3,442 diabetes
      points off by up to 3.2). skl2onnx's own threshold adjustment, used for the other trees,
      picks the float32 threshold that splits every float32 input as scikit-learn does.
    """
    import numpy as np
    from skl2onnx.common import tree_ensemble
    from skl2onnx.operator_converters import random_forest

    original_node = tree_ensemble.add_node
    if getattr(original_node, "_trainer_fixed", False):
        return
    original_tree = tree_ensemble.add_tree_to_attribute_pairs_hist_gradient_boosting

    def add_node(*args: Any, nodes_missing_value_tracks_true: Any = 0, **kwargs: Any) -> Any:
        return original_node(
            *args, nodes_missing_value_tracks_true=int(nodes_missing_value_tracks_true), **kwargs
        )

    def add_tree(*args: Any, dtype: Any = None, **kwargs: Any) -> Any:
        # (attr_pairs, is_classifier, tree, tree_id, tree_weight, weight_id_bias,
        #  leaf_weights_are_counts, adjust_threshold_for_sklearn)
        head = args[:7]
        adjust = dtype in (np.float32, np.float64)
        return original_tree(*head, adjust, dtype=dtype)

    add_node._trainer_fixed = True  # type: ignore[attr-defined]
    tree_ensemble.add_node = add_node
    tree_ensemble.add_tree_to_attribute_pairs_hist_gradient_boosting = add_tree
    random_forest.add_tree_to_attribute_pairs_hist_gradient_boosting = add_tree
