"""Fitting the scikit-learn baselines (without TensorFlow).

A baseline is ``StandardScaler [-> column weights] -> estimator`` (`ser_keras.models.baselines`),
fitted on train + val (it has no early stopping to spend the validation speakers on) and
saved as a skops file (`ser_keras.runs.model_files.save_estimator`), never a pickle.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..files import write_csv
from ..layout import ESTIMATOR_FILE, HISTORY_FILE
from ..models import get_spec
from ..runs.inference import sklearn_probabilities
from ..runs.model_files import save_estimator


def group_weights(config) -> np.ndarray | None:
    """Column weights that give each descriptor family of a kind the same total weight, or None.

    After the z-score, column ``j`` of a family of ``n_g`` columns is multiplied by
    ``n_g ** -0.5`` (then all by one constant, so their root mean square is 1): under
    logistic regression's L2 penalty every family then has the same prior variance,
    instead of the largest (the 640 log-mel statistics of ``functionals``) dominating.
    Chosen by speaker cross-validation (docs/results.md).

    Returns
    -------
    weights : np.ndarray [shape=(n_features,), dtype=float64] or None
        None for kinds without column groups (`ser_keras.features.registry.FeatureKind.column_groups`).
    """
    if config.kind_spec.column_groups is None:
        return None
    groups = np.asarray(config.kind_spec.column_groups(config))
    _, index, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    weights = sizes[index] ** -0.5
    return weights / np.sqrt(np.mean(weights**2))


def scale_columns(X: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``X * weights`` (a pipeline step of `group_weights`; a module-level function, so it pickles)."""
    return X * weights


def fit_pipeline(model_name: str, X: np.ndarray, y: np.ndarray, options, config):
    """``StandardScaler [-> column weights] -> estimator`` of a baseline, fitted on ``X`` (rows flattened)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    spec = get_spec(model_name)
    weights = group_weights(config) if spec.group_balance and options.group_balance else None
    steps = [StandardScaler()] + (
        [FunctionTransformer(scale_columns, kw_args={"weights": weights})] if weights is not None else []
    )
    pipeline = make_pipeline(*steps, spec.estimator(options))
    return pipeline.fit(X.reshape(len(X), -1), y)


def fit_sklearn(model_name, train_part, val_part, X_test, options, run_dir, *, config, labels):
    """Fit a scikit-learn baseline (standardised inputs) on train + val: they have no early
    stopping to spend the validation speakers on."""
    X, y = np.concatenate([train_part.X, val_part.X]), np.concatenate([train_part.y, val_part.y])
    pipeline = fit_pipeline(model_name, X, y, options, config)
    save_estimator(pipeline, run_dir / ESTIMATOR_FILE)
    probabilities = sklearn_probabilities(pipeline, X_test)  # no TensorFlow: its SavedModel is made by export
    history = None  # linear models, SVM and kNN have no epochs: no history, no curves
    if hasattr(pipeline[-1], "loss_curve_"):
        curve = pipeline[-1].loss_curve_
        history = pd.DataFrame({"epoch": np.arange(1, len(curve) + 1), "loss": curve})
        write_csv(history, run_dir / HISTORY_FILE)
    return (
        probabilities,
        history,
        {
            "strategy": None,
            "fitted_on": "train + val",
            "normalization": "StandardScaler fitted on the train + val splits",
        },
    )
