"""Fitting the ``fusion`` model: the default logistic regression on the functionals and a
frame-level network on the frames of the same clips, averaged into one Keras model.

The logistic regression is fitted with scikit-learn on train + val, as the ``logreg``
runs are, and becomes its equal Keras model (`ser_keras.models.baselines.logistic_to_keras`);
the frame network (``tdnn``) trains as a ``tdnn`` run does (`ser_keras.training.fit_keras.train_keras`).
`ser_keras.models.fusion.combine` joins them.
"""

from __future__ import annotations

import numpy as np

from ..extraction.parts import BOUND_MARGIN, fit_bounds
from ..features.fusion_kind import fusion_blocks
from ..models.baselines import logistic_to_keras
from .fit_keras import train_keras
from .fit_sklearn import fit_pipeline

#: The models a fusion run is made of.
UTTERANCE_MODEL, FRAME_MODEL = "logreg", "tdnn"
#: The frame model's share of the averaged probabilities.
FRAME_WEIGHT = 0.5


def fit_fusion(fs, X_train, y_train, X_val, y_val, options, run_dir, strategy, progress):
    """Fit both parts and join them; the model, its history, what ``run.json`` records, and probabilities
    ``(n_val, n_labels)`` of the validation speakers from a twin fitted without them.

    ``X_*`` are ``fusion`` rows ``(n, n_functionals + sequence_frames * n_descriptors)``.  The
    logistic regression of the model is fitted on train + val, so its own probabilities of
    the validation speakers are in-sample; the returned ones average a logistic regression
    fitted on train alone with the frame network, as the model would answer speakers it
    never met (None with ``--select last``, whose frame network trains on val too).
    """
    from ..models.fusion import combine

    utterance, frames, n_utterance = fusion_blocks(fs.features)
    frame_shape = frames.output_shape()

    def split(X):
        return X[:, :n_utterance], X[:, n_utterance:].reshape(len(X), *frame_shape)

    (U_train, F_train), (U_val, F_val) = split(X_train), split(X_val)
    U_fit = np.concatenate([U_train, U_val])
    pipeline = fit_pipeline(UTTERANCE_MODEL, U_fit, np.concatenate([y_train, y_val]), options, utterance)
    scaler = pipeline[0]
    bounds = fit_bounds(U_fit, scaler.mean_, np.square(scaler.scale_), utterance)
    frame_model, history, extra = train_keras(
        FRAME_MODEL, frames, fs.labels, F_train, y_train, F_val, y_val, options, run_dir, strategy, progress
    )
    model = combine(
        logistic_to_keras(pipeline, n_labels=len(fs.labels), bounds=bounds),
        frame_model,
        n_utterance=n_utterance,
        frame_shape=frame_shape,
        weight=FRAME_WEIGHT,
    )
    extra["fusion"] = {
        "utterance_model": f"{UTTERANCE_MODEL} on the functionals, fitted on train + val; its z-scores clipped to "
        f"their range there widened by {BOUND_MARGIN:g} sd",
        "frame_model": f"{FRAME_MODEL} on the lld frames",
        "frame_weight": FRAME_WEIGHT,
    }
    if options.select == "last":
        return model, history, extra, None
    twin = fit_pipeline(UTTERANCE_MODEL, U_train, y_train, options, utterance)
    twin_bounds = fit_bounds(U_train, twin[0].mean_, np.square(twin[0].scale_), utterance)
    twin_model = logistic_to_keras(twin, n_labels=len(fs.labels), bounds=twin_bounds)  # bounded as the model is
    val_probabilities = (1.0 - FRAME_WEIGHT) * twin_model.predict(U_val, batch_size=256, verbose=0)
    val_probabilities += FRAME_WEIGHT * frame_model.predict(F_val, batch_size=256, verbose=0)
    return model, history, extra, val_probabilities
