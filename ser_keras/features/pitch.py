"""Pitch and voicing: ``librosa.yin`` over the analysis frames, and which frames are voiced.

`yin` is librosa's call in float64 (YIN's difference function cancels ``r(0) - r(lag)``, which
float32 leaves 1e-3 off at high pitch); `yin_graph` computes the same from the frames' power
spectra (`drop_transform`), where the cancellation does not arise.  A frame is voiced when its
RMS is within `VOICED_DB` of the loudest frame and its ZCR is below `VOICED_MAX_ZCR` (YIN itself
gives no voicing decision): `voiced_frames` and `voiced_frames_graph`.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .config import FeatureConfig

#: Voicing: RMS within this many dB of the utterance's loudest frame ...
VOICED_DB = 30.0


#: ... and a zero-crossing rate below this.
VOICED_MAX_ZCR = 0.15


def voiced_frames(log_rms: np.ndarray, zcr: np.ndarray) -> np.ndarray:
    """Voiced frames of log-RMS (dB) and ZCR ``(T,)``: bool ``(T,)``."""
    return (log_rms > log_rms.max() - VOICED_DB) & (zcr < VOICED_MAX_ZCR)


def voiced_frames_graph(log_rms, zcr):
    """`voiced_frames` in TensorFlow ops."""
    import tensorflow as tf

    return (log_rms > tf.reduce_max(log_rms) - VOICED_DB) & (zcr < VOICED_MAX_ZCR)


def yin(y: np.ndarray, *, config) -> np.ndarray:
    """``librosa.yin`` of ``y`` ``(n,)`` in float64 with the analysis frame and hop: Hz ``(T,)``."""
    import librosa

    return librosa.yin(
        np.asarray(y, dtype=np.float64),
        fmin=config.f0_min,
        fmax=config.f0_max,
        sr=config.sr,
        frame_length=config.n_fft,
        hop_length=config.hop_length,
    )


#: Trough threshold of ``librosa.yin``.
YIN_THRESHOLD = 0.1


def periods(config: FeatureConfig) -> tuple[int, int]:
    """YIN's shortest and longest period in samples (``librosa.yin``'s)."""
    min_period = int(np.floor(config.sr / config.f0_max))
    return min_period, min(int(np.ceil(config.sr / config.f0_min)), config.n_fft - 1)


def hnr_lag_bounds(config: FeatureConfig) -> tuple[int, int]:
    """The pitch periods (samples) the voice block's HNR centres on: ``round(sr / f0)`` of a YIN ``f0``.

    YIN answers a period in ``(min_period - 1, max_period + 1)`` (the parabola moves it less
    than a lag), and the NumPy path clips the period to ``[2, n_fft // 2]``.
    """
    min_period, max_period = periods(config)
    return max(2, min_period - 1), min(config.n_fft // 2, max_period + 1)


def drop_transform(config: FeatureConfig):
    """Power spectra at ``2 n_fft`` points ``(T, n_fft + 1)`` -> ``r(0) - r(lag)``, lags ``0 .. longest``: a constant.

    ``sum_k w_k P_k (1 - cos)`` straight from the spectrum: no cancellation in float32, which
    ``r(0) - r(lag)`` from an inverse FFT would suffer.  ``longest`` covers YIN's periods and
    the voice block's HNR lags (`hnr_lag_bounds` + 2).
    """
    import tensorflow as tf

    longest = max(periods(config)[1], hnr_lag_bounds(config)[1] + 2)
    return tf.constant(_drop_matrix(2 * config.n_fft, longest))


def yin_graph(frames, drops, config: FeatureConfig):
    """``librosa.yin`` (``f0_min``, ``f0_max``, ``frame_length=n_fft``) of the centred frames ``(T, n_fft)``.

    ``drops`` ``(T, max_period)``: the frames' ``r(0) - r(lag)``, lags ``1 .. max_period`` (`drop_transform`).
    """
    import tensorflow as tf

    sr = config.sr
    min_period, max_period = periods(config)
    energy = tf.math.cumsum(tf.math.square(frames[:, :max_period]), axis=1)
    energy = tf.concat([tf.zeros_like(energy[:, :1]), energy[:, 1:]], axis=1)  # librosa zeroes the first term
    difference = 2.0 * drops - energy  # lags 1..max_period
    cumulative_mean = tf.math.cumsum(difference, axis=1) / np.arange(1, max_period + 1, dtype=np.float32)
    cmnd = difference[:, min_period - 1 :] / (cumulative_mean[:, min_period - 1 :] + np.finfo(np.float32).tiny)
    before, after = cmnd[:, :-2], cmnd[:, 2:]
    centre = cmnd[:, 1:-1]
    a = after + before - 2.0 * centre
    b = (after - before) / 2.0
    curved = tf.cast(tf.abs(b) < tf.abs(a), tf.float32)  # where the parabola moves the trough (arithmetic, not
    inner_shift = -b * curved / (a * curved + (1.0 - curved))  # a select: LiteRT selects element by element)
    zero = tf.zeros_like(cmnd[:, :1])
    shifts = tf.concat([zero, inner_shift, zero], axis=1)
    # librosa.util.localmin with edge padding, the first lag compared with its right neighbour only
    inner = (cmnd[:, 1:] < cmnd[:, :-1]) & (cmnd[:, 1:] <= tf.concat([cmnd[:, 2:], cmnd[:, -1:]], axis=1))
    trough = tf.concat([cmnd[:, :1] < cmnd[:, 1:2], inner], axis=1)
    below = tf.cast(trough & (cmnd < YIN_THRESHOLD), tf.float32)
    first_below = tf.cast(tf.argmax(below, axis=1), tf.int32)  # the first trough under the threshold, if any
    period = tf.where(tf.reduce_max(below, axis=1) > 0, first_below, tf.cast(tf.argmin(cmnd, axis=1), tf.int32))
    shift = tf.gather(shifts, period, axis=1, batch_dims=1)
    return sr / (min_period + tf.cast(period, tf.float32) + shift)


@functools.lru_cache(maxsize=8)
def _drop_matrix(fft_length: int, longest: int) -> np.ndarray:
    """``r(0) - r(lag)`` of a power spectrum at ``fft_length`` points, lags ``0 .. longest``.

    Returns
    -------
    matrix : np.ndarray [shape=(fft_length // 2 + 1, longest + 1), dtype=float32]
        ``w_k (1 - cos(2 pi k lag / fft_length))``, ``w_k`` the inverse real FFT's weights.
    """
    k = np.arange(fft_length // 2 + 1)
    weight = np.where((k == 0) | (k == fft_length // 2), 1.0, 2.0) / fft_length
    cosine = np.cos(2.0 * np.pi * np.outer(k, np.arange(longest + 1)) / fft_length)
    return (weight[:, None] * (1.0 - cosine)).astype(np.float32)
