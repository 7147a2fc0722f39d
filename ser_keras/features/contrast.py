"""Spectral contrast: ``librosa.feature.spectral_contrast`` of magnitudes floored below each frame's peak.

The ``contrast`` rows of the functionals.  `spectral_contrast` is librosa's call on
`contrast_input`; `spectral_contrast_graph` is the same in TensorFlow ops, frames first.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from .graph import _power_to_db
from .level import floor_magnitude

if TYPE_CHECKING:
    from .config import FeatureConfig

#: Octave sub-bands from 200 Hz (librosa's default ``n_bands`` is 6; the last reaches Nyquist).
N_CONTRAST_BANDS = 5
#: Spectral contrast sees each frame's magnitudes floored this far below the frame's peak bin (-40 dB): a
#: valley deeper than that is a bin whose few significant digits are the FFT's rounding (float32 leaves a
#: loud frame's quietest bins 1e-4 off), and speech's contrast stays below it.
CONTRAST_FLOOR = 1e-2


def contrast_input(magnitude: np.ndarray, *, n_fft: int) -> np.ndarray:
    """Magnitudes ``(bins, n_frames)`` floored at `CONTRAST_FLOOR` times each frame's peak and at the noise floor's
    own magnitude (`ser_keras.features.level.floor_magnitude`): a valley is never one bin's chance value."""
    floor = np.maximum(
        np.float32(CONTRAST_FLOOR) * magnitude.max(axis=0, keepdims=True), np.float32(floor_magnitude(n_fft))
    )
    return np.maximum(magnitude, floor)


def spectral_contrast(magnitude: np.ndarray, *, config) -> np.ndarray:
    """``librosa.feature.spectral_contrast`` of `contrast_input`: ``(bins, T)`` -> ``(N_CONTRAST_BANDS + 1, T)``."""
    import librosa

    return librosa.feature.spectral_contrast(
        S=contrast_input(magnitude, n_fft=config.n_fft),
        sr=config.sr,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        n_bands=N_CONTRAST_BANDS,
    )


@functools.lru_cache(maxsize=8)
def contrast_bands(*, sr: int, n_fft: int, n_bands: int, fmin: float = 200.0, quantile: float = 0.02):
    """``librosa.feature.spectral_contrast``'s sub-bands: per band, its bins and how many make a peak or valley."""
    freq = np.linspace(0.0, sr / 2, n_fft // 2 + 1)
    octa = np.zeros(n_bands + 2)
    octa[1:] = fmin * (2.0 ** np.arange(0, n_bands + 1))
    bands = []
    for k, (f_low, f_high) in enumerate(zip(octa[:-1], octa[1:])):
        current = (freq >= f_low) & (freq <= f_high)
        idx = np.flatnonzero(current)
        if k > 0:
            current[idx[0] - 1] = True
        if k == n_bands:
            current[idx[-1] + 1 :] = True
        bins = np.flatnonzero(current)
        if k < n_bands:
            bins = bins[:-1]
        assert np.all(np.diff(bins) == 1), "a contrast band is a run of bins"
        bands.append((bins, int(max(np.rint(quantile * current.sum()), 1))))
    return tuple(bands)


def spectral_contrast_graph(magnitude, config: FeatureConfig):
    """``spectral_contrast(S=contrast_input(magnitude.T), n_bands=N_CONTRAST_BANDS).T``: ``(T, n_bands + 1)``."""
    import tensorflow as tf

    peak_floor = CONTRAST_FLOOR * tf.reduce_max(magnitude, axis=1, keepdims=True)
    magnitude = tf.maximum(magnitude, tf.maximum(peak_floor, np.float32(floor_magnitude(config.n_fft))))
    peaks, valleys = [], []
    for bins, count in contrast_bands(sr=config.sr, n_fft=config.n_fft, n_bands=N_CONTRAST_BANDS):
        band = magnitude[:, bins[0] : bins[-1] + 1]  # a band is a run of bins
        if count == 1:
            peaks.append(tf.reduce_max(band, axis=1))
            valleys.append(tf.reduce_min(band, axis=1))
        else:
            peaks.append(tf.reduce_mean(tf.math.top_k(band, count).values, axis=1))
            valleys.append(-tf.reduce_mean(tf.math.top_k(-band, count).values, axis=1))

    def to_db(x):  # librosa.power_to_db, its top_db=80 floor over the whole array
        db = _power_to_db(tf.stack(x, axis=1), top_db=None)
        return tf.maximum(db, tf.reduce_max(db) - 80.0)

    return to_db(peaks) - to_db(valleys)
