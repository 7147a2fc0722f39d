"""Fusion of an utterance-level and a frame-level model into one Keras model.

The ``fusion`` kind puts both inputs in one row: the functionals vector, then the
``lld`` frame matrix flattened (`ser_keras.features.fusion_kind.fusion_blocks`).  `combine` slices
the row, feeds each part to its own fitted model (the logistic regression's equal Keras
model, a frame-level network) and averages their probabilities, so a fused run is one
``model.keras``, one SavedModel and one LiteRT file like any other.
"""

from __future__ import annotations


def combine(utterance_model, frame_model, *, n_utterance: int, frame_shape, weight: float = 0.5, name="fusion"):
    """One model: ``(None, n_utterance + prod(frame_shape))`` -> the weighted mean of the two models' probabilities.

    Parameters
    ----------
    utterance_model : keras.Model
        ``(None, n_utterance)`` -> ``(None, n_labels)``.
    frame_model : keras.Model
        ``(None, *frame_shape)`` -> ``(None, n_labels)``.
    weight : float
        The frame model's share of the average.
    """
    import keras

    from .layers import Columns, WeightedAverage

    size = n_utterance + int(frame_shape[0]) * int(frame_shape[1])
    inputs = keras.Input(shape=(size,), name="features")
    utterance_model.name, frame_model.name = "utterance_model", "frame_model"
    first = utterance_model(Columns(0, n_utterance, name="utterance")(inputs))
    second = frame_model(Columns(n_utterance, None, shape=frame_shape, name="frames")(inputs))
    outputs = WeightedAverage(weight, name="emotion")([first, second])
    return keras.Model(inputs, outputs, name=name)
