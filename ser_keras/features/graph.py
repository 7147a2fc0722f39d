"""The ``stats`` / ``frames`` / ``mel`` kinds in TensorFlow ops: their graph form.

`waveform_features` equals `ser_keras.features.registry.compute` (tested to 1e-4): ``tf.signal``
framing and real FFT, and the very filter banks the NumPy path uses
(`ser_keras.signal.spectral`) embedded as constants.  The feature registry names it as those
kinds' graph function; `ser_keras.serving.saved_model` builds the SavedModel's waveform signatures
on it.  TensorFlow is imported only when it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..signal.spectral import chroma_basis, dct_basis, hann_window, mel_basis

if TYPE_CHECKING:
    from .config import FeatureConfig


def waveform_features(waveform, config: FeatureConfig):
    """`features.compute` of equal-length waveforms, as TensorFlow ops.

    Parameters
    ----------
    waveform : tf.Tensor [shape=(batch, n), dtype=float32]
        Already windowed (see `window_waveform`).
    config : FeatureConfig

    Returns
    -------
    X : tf.Tensor [shape=(batch, *config.output_shape()), dtype=float32]
        ``stats`` ``(batch, n_features)``, ``frames`` ``(batch, n_frames, n_features)``,
        ``mel`` ``(batch, n_mels, n_frames)``.
    """
    import tensorflow as tf

    n_fft, hop = config.n_fft, config.hop_length
    pad = n_fft // 2
    padded = tf.pad(waveform, [[0, 0], [pad, pad]])
    frames = tf.signal.frame(padded, n_fft, hop)  # (batch, n_frames, n_fft), librosa's center=True framing
    spectrum = tf.signal.rfft(frames * tf.constant(hann_window(n_fft)))
    power = tf.math.square(tf.math.real(spectrum)) + tf.math.square(tf.math.imag(spectrum))
    mel = tf.linalg.matmul(power, tf.constant(mel_basis(sr=config.sr, n_fft=n_fft, n_mels=config.n_mels).T))
    log_mel = _power_to_db(mel, top_db=config.top_db)
    if config.kind == "mel":
        return tf.transpose(log_mel, [0, 2, 1])
    chroma = tf.linalg.matmul(
        tf.math.sqrt(power),
        tf.constant(chroma_basis(sr=config.sr, n_fft=n_fft, n_chroma=config.n_chroma, tuning=config.chroma_tuning).T),
    )
    peak = tf.reduce_max(tf.abs(chroma), axis=-1, keepdims=True)
    chroma = chroma / tf.where(peak < np.finfo(np.float32).tiny, 1.0, peak)
    mfcc = tf.linalg.matmul(log_mel, tf.constant(dct_basis(n_mels=config.n_mels, n_mfcc=config.n_mfcc).T))
    rms = tf.math.sqrt(tf.reduce_sum(tf.math.square(frames), axis=-1) / n_fft)
    zcr = _zero_crossing_rate(waveform, frame_length=n_fft, hop_length=hop)
    per_frame = tf.concat(
        [tf.expand_dims(zcr, -1), chroma, mfcc, tf.expand_dims(rms, -1), mel], axis=-1
    )  # expand_dims, not [..., None]: LiteRT has no new-axis slice
    if config.kind == "frames":
        return per_frame
    return tf.reduce_mean(per_frame, axis=1)


def _power_to_db(power, *, top_db: float | None, amin: float = 1e-10):
    """``librosa.power_to_db`` (ref 1.0), the ``top_db`` floor per signal."""
    import tensorflow as tf

    db = 10.0 * tf.math.log(tf.maximum(power, amin)) / np.log(10.0)
    if top_db is not None:
        db = tf.maximum(db, tf.reduce_max(db, axis=[1, 2], keepdims=True) - top_db)
    return db


def _zero_crossing_rate(y, *, frame_length: int, hop_length: int, threshold: float = 1e-10):
    """``librosa.feature.zero_crossing_rate`` (``center=True``, edge padding), ``(batch, n_frames)``."""
    import tensorflow as tf

    pad = frame_length // 2
    padded = tf.concat([tf.repeat(y[:, :1], pad, axis=1), y, tf.repeat(y[:, -1:], pad, axis=1)], axis=1)
    negative = tf.cast(tf.where(tf.abs(padded) <= threshold, 0.0, padded) < 0, tf.float32)
    # sign changes by a two-tap convolution, not by slices (LiteRT slices element by element)
    steps = tf.nn.conv1d(tf.expand_dims(negative, -1), np.array([[[-1.0]], [[1.0]]], np.float32), 1, "VALID")
    steps = tf.reshape(steps, [tf.shape(steps)[0], -1])
    counts = tf.pad(tf.math.cumsum(tf.abs(steps), axis=1), [[0, 0], [1, 0]])  # whole numbers, exact
    starts = tf.range(1 + tf.shape(y)[1] // hop_length) * hop_length
    ends = tf.gather(counts, starts + frame_length - 1, axis=1)
    return (ends - tf.gather(counts, starts, axis=1)) / frame_length
