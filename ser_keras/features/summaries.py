"""Summaries over time: the statistics of each descriptor, and the utterance's contour by parts.

The NumPy forms serve extraction; the ``_graph`` forms are the same definitions in TensorFlow
ops (rows along axis 0 there, frames first), for waveform-in models.  Tests pin the two equal.
"""

from __future__ import annotations

import numpy as np

#: Summaries of each descriptor over time, in column order.
STATISTICS = ("mean", "std", "p5", "p25", "p50", "p75", "p95", "iqr", "skew", "kurtosis")


#: Equal parts of the utterance whose means form the ``contour`` block.
SEGMENTS = 3


def summarize(rows: np.ndarray) -> np.ndarray:
    """`STATISTICS` of each row over time.

    Parameters
    ----------
    rows : np.ndarray [shape=(n_rows, n_frames)]

    Returns
    -------
    summary : np.ndarray [shape=(n_rows, len(STATISTICS)), dtype=float64]
        Finite: a row without variation has skew and kurtosis 0; an empty row is all 0.
    """
    rows = np.asarray(rows, dtype=np.float64)
    if rows.shape[1] == 0:
        return np.zeros((rows.shape[0], len(STATISTICS)))
    mean = rows.mean(axis=1)
    std = rows.std(axis=1)
    p5, p25, p50, p75, p95 = np.percentile(rows, [5, 25, 50, 75, 95], axis=1)
    centred = rows - mean[:, None]
    safe = np.where(std > 1e-12, std, 1.0)
    skew = np.where(std > 1e-12, (centred**3).mean(axis=1) / safe**3, 0.0)  # scipy.stats.skew (biased)
    kurtosis = np.where(std > 1e-12, (centred**4).mean(axis=1) / safe**4 - 3.0, 0.0)  # Fisher, biased
    return np.stack([mean, std, p5, p25, p50, p75, p95, p75 - p25, skew, kurtosis], axis=1)


def contour(log_mel, mfcc, log_rms, semitones, voiced, *, fallback_f0: float) -> np.ndarray:
    """Means of log-mel, MFCC, log-RMS and voiced pitch in each of `SEGMENTS` equal parts of the frames.

    Parameters
    ----------
    log_mel : np.ndarray [shape=(n_mels, n_frames)]
    mfcc : np.ndarray [shape=(n_mfcc, n_frames)]
    log_rms, semitones : np.ndarray [shape=(n_frames,)]
    voiced : np.ndarray [shape=(n_frames,), dtype=bool]
    fallback_f0 : float
        The pitch of a part without a voiced frame (the utterance's median).

    Returns
    -------
    contour : np.ndarray [shape=(SEGMENTS * (n_mels + n_mfcc + 2),)]
        Part by part: ``n_mels`` log-mel means, ``n_mfcc`` MFCC means, log-RMS, pitch.
    """
    edges = np.linspace(0, log_mel.shape[1], SEGMENTS + 1).astype(int)
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        pitch = semitones[a:b][voiced[a:b]]
        out += [
            log_mel[:, a:b].mean(axis=1),
            mfcc[:, a:b].mean(axis=1),
            [log_rms[a:b].mean()],
            [pitch.mean() if pitch.size else fallback_f0],
        ]
    return np.concatenate(out)


def percentiles_graph(x, q):
    """``np.percentile(x, q, axis=0)`` (linear interpolation) of ``x`` ``(t, d)``: ``(len(q), d)``."""
    import tensorflow as tf

    n = tf.shape(x)[0]
    ordered = -tf.transpose(tf.math.top_k(-tf.transpose(x), n).values)  # ascending along time
    answers = []
    for p in q:
        position = (p / 100.0) * tf.cast(n - 1, tf.float32)
        below = tf.cast(tf.math.floor(position), tf.int32)
        above = tf.minimum(below + 1, n - 1)
        fraction = position - tf.cast(below, tf.float32)
        low, high = tf.gather(ordered, below), tf.gather(ordered, above)
        answers.append(low + (high - low) * fraction)
    return tf.stack(answers)


def std_graph(x):
    """Population standard deviation over time of ``x`` ``(t, d)``."""
    import tensorflow as tf

    mean = tf.reduce_mean(x, axis=0)
    return tf.math.sqrt(tf.reduce_mean(tf.math.square(x - mean), axis=0))


def summarize_graph(x):
    """`summarize` of ``x`` ``(t, d)`` (rows over time): ``(d, len(STATISTICS))``."""
    import tensorflow as tf

    mean = tf.reduce_mean(x, axis=0)
    centred = x - mean
    variance = tf.reduce_mean(tf.math.square(centred), axis=0)
    std = tf.math.sqrt(variance)
    p5, p25, p50, p75, p95 = tf.unstack(percentiles_graph(x, [5.0, 25.0, 50.0, 75.0, 95.0]))
    varies = std > 1e-12
    safe = tf.where(varies, std, 1.0)
    z = centred / safe  # standardised first: std**4 of a near-constant row would flush to zero in float32
    z_squared = tf.math.square(z)  # products, not powers: LiteRT's POW is an exp and a log
    skew = tf.where(varies, tf.reduce_mean(z_squared * z, axis=0), 0.0)
    kurtosis = tf.where(varies, tf.reduce_mean(tf.math.square(z_squared), axis=0) - 3.0, 0.0)
    return tf.stack([mean, std, p5, p25, p50, p75, p95, p75 - p25, skew, kurtosis], axis=1)


def contour_graph(log_mel, mfcc, log_rms, semitones, voiced, *, fallback_f0):
    """`contour` of frames ``(T, ...)``: ``(SEGMENTS * (n_mels + n_mfcc + 2),)``.

    Each part's means are one product with its frames' indicator (voiced frames only for the pitch).
    """
    import tensorflow as tf

    n = tf.shape(log_mel)[0]
    edges = tf.stack([(j * n) // SEGMENTS for j in range(SEGMENTS + 1)])
    index = tf.range(n)
    member = tf.cast((index >= edges[:-1, None]) & (index < edges[1:, None]), tf.float32)  # (SEGMENTS, T)
    voiced_member = member * tf.cast(voiced, tf.float32)
    means = tf.linalg.matmul(member, tf.concat([log_mel, mfcc, log_rms[:, None]], axis=1)) / tf.reduce_sum(
        member, axis=1, keepdims=True
    )
    voiced_frames = tf.reduce_sum(voiced_member, axis=1)
    pitch_sums = tf.linalg.matvec(voiced_member, semitones)
    pitch = tf.where(voiced_frames > 0, pitch_sums / tf.maximum(voiced_frames, 1.0), fallback_f0)
    return tf.reshape(tf.concat([means, pitch[:, None]], axis=1), [-1])
