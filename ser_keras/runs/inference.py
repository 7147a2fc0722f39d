"""Probabilities from any model a run holds: a scikit-learn pipeline, a Keras model or a `LiteRTModel`.

Shared by training (scoring the test split), evaluation and the `ser_keras.serving.predict.Predictor`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..features.config import FeatureConfig


def sklearn_probabilities(pipeline, X: np.ndarray, *, n_labels: int | None = None) -> np.ndarray:
    """Probabilities ``(n, n_labels)`` over every label index (classes absent from training get 0);
    without ``n_labels``, up to the largest class the pipeline knows."""
    proba = pipeline.predict_proba(X.reshape(len(X), -1))
    classes = pipeline.classes_
    width = n_labels if n_labels is not None else int(classes.max()) + 1 if len(classes) else 0
    out = np.zeros((len(X), width), dtype=np.float32)
    out[:, classes] = proba
    return out


def predict_probabilities(model, X: np.ndarray) -> np.ndarray:
    """Class probabilities ``(n, n_labels)`` from a scikit-learn pipeline, a Keras model or a `LiteRTModel`."""
    from .litert import LiteRTModel

    if hasattr(model, "predict_proba"):
        return sklearn_probabilities(model, X)
    if isinstance(model, LiteRTModel):
        return model.probabilities(X)
    if len(X) <= 64:  # a direct call skips predict()'s per-call dataset machinery (a few clips at serving time)
        import keras

        return keras.ops.convert_to_numpy(model(np.asarray(X, dtype=np.float32), training=False))
    return model.predict(X, batch_size=256, verbose=0)


def gender_inputs(X: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Time-averaged vectors ``(n, F)`` of a representation, for the gender classifier.

    Vector kinds ``(n, F)`` as they are; ``frames`` ``(n, T, F)`` and ``mel`` ``(n, M, T)``
    averaged over their time axis (`FeatureKind.time_axis`).
    """
    time_axis = config.kind_spec.time_axis
    return np.asarray(X) if time_axis is None else np.asarray(X).mean(axis=1 + time_axis)
