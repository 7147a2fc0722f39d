"""The data a run sees: splits of a feature set as in-memory parts, per gender, normalised.

Validation is the speaker-independent ``val`` split, never ``test``; the z-score the
Keras models carry is fitted on the training rows only (`fit_normalization`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ParameterError
from .extract import FeatureSet

GENDERS = ("mixed", "male", "female")


@dataclass
class Part:
    """One split of the data a run sees: ``X`` [shape=(n, *feature shape)], ``y`` [shape=(n,)] and its manifest rows."""

    X: np.ndarray
    y: np.ndarray
    rows: pd.DataFrame


def gender_rows(manifest: pd.DataFrame, gender: str) -> np.ndarray:
    """Boolean mask of the rows a gender variant trains and tests on."""
    if gender not in GENDERS:
        raise ParameterError(f"unknown gender {gender!r}; choose mixed, male, female or all")
    if gender == "mixed":
        return np.ones(len(manifest), dtype=bool)
    unknown = manifest.loc[manifest["gender"] == "unknown", "corpus"].unique()
    if len(unknown):
        raise ParameterError(f"--gender {gender} needs speaker genders, unknown for corpus {', '.join(unknown)}")
    return (manifest["gender"] == gender).to_numpy()


def load_split(fs: FeatureSet, split: str, gender: str) -> Part:
    """One split of a feature set restricted to a gender variant, in memory."""
    manifest = fs.manifest
    part = manifest[manifest["split"] == split].reset_index(drop=True)
    mask = gender_rows(part, gender)
    X, y = fs.arrays(split)
    return Part(np.asarray(X[mask]), np.asarray(y[mask]), part[mask].reset_index(drop=True))


def normalize_parts(parts: dict[str, Part], normalize: str, config) -> dict[str, Part]:
    """Apply ``--normalize`` to every part: ``speaker`` (``corpus``) standardises each speaker (corpus) by
    its own rows (original views only; `ser_keras.extraction.normalize`), ``global`` leaves them for the model's
    z-score layer."""
    from .normalize import check_normalization, standardize_groups

    if check_normalization(normalize) == "global":
        return parts
    out = {}
    for split, part in parts.items():
        original = (part.rows["view"] == "orig").to_numpy() if "view" in part.rows else None
        X = standardize_groups(part.X, part.rows, normalize, reference=original, time_axis=config.kind_spec.time_axis)
        out[split] = Part(X, part.y, part.rows)
    return out


def fit_normalization(X: np.ndarray, config) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance for the model's ``Normalization`` layer, from training rows only.

    Per feature for vectors ``(F,)`` and sequences ``(T, F)``; per mel band for images ``(M, T)``.
    """
    axes = (0, 2) if config.kind_spec.layout == "image" else tuple(range(X.ndim - 1))
    mean = X.mean(axis=axes, dtype=np.float64)
    variance = X.var(axis=axes, dtype=np.float64)
    return mean.astype(np.float32), np.maximum(variance, 1e-12).astype(np.float32)


#: How far (in training standard deviations) past the training range a standardised feature may go (`fit_bounds`).
BOUND_MARGIN = 1.0


def fit_bounds(X: np.ndarray, mean: np.ndarray, variance: np.ndarray, config) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature bounds of the standardised features: the training rows' range, `BOUND_MARGIN` wider each side.

    Parameters
    ----------
    X : np.ndarray [shape=(n, *feature_shape)]
        The training rows the normalisation was fitted on.
    mean, variance : np.ndarray
        `fit_normalization` of ``X``.

    Returns
    -------
    low, high : np.ndarray [shape=mean.shape, dtype=float32]
        A model clips ``(x - mean) / sqrt(variance)`` to these (`ser_keras.models.layers.Bounded`).
    """
    axes = (0, 2) if config.kind_spec.layout == "image" else tuple(range(X.ndim - 1))
    shape = [1] * X.ndim
    feature_axis = 1 if config.kind_spec.layout == "image" else X.ndim - 1
    shape[feature_axis] = -1
    scale = np.sqrt(np.asarray(variance, dtype=np.float64)).reshape(shape)
    z_low = ((X.min(axis=axes, keepdims=True) - np.asarray(mean, np.float64).reshape(shape)) / scale).reshape(-1)
    z_high = ((X.max(axis=axes, keepdims=True) - np.asarray(mean, np.float64).reshape(shape)) / scale).reshape(-1)
    return (z_low - BOUND_MARGIN).astype(np.float32), (z_high + BOUND_MARGIN).astype(np.float32)


def speaker_rows(fs: FeatureSet, speakers: list[str], gender: str) -> Part:
    """The original (non-augmented) rows of ``speakers`` in a cross-validation feature set."""
    rows = fs.manifest
    X, y = fs.arrays("train")
    mask = gender_rows(rows, gender) & (rows["view"] == "orig").to_numpy() & rows["speaker"].isin(speakers).to_numpy()
    return Part(np.asarray(X[mask]), np.asarray(y[mask]), rows[mask].reset_index(drop=True))
