"""The ``functionals``, ``lld`` and ``fusion`` kinds in TensorFlow ops: their graph form.

`utterance_features` is `ser_keras.features.functionals.functionals` and
`ser_keras.features.lld.lld_sequence` of one clip: ``librosa.effects.trim``, one STFT,
the descriptors of `ser_keras.features.functionals.low_level_descriptors`
(log-mel, MFCC and Savitzky-Golay deltas, spectral contrast, centroid, bandwidth,
rolloff, flatness, ZCR, RMS, flux), ``librosa.yin`` with its parabolic refinement and
trough rule, the voice block of `ser_keras.features.voice` (HNR, formants as peaks of
the LPC envelope, alpha ratio, Hammarberg index), the statistics with NumPy's linear
percentiles, and the contour blocks.  The filter banks, windows and Savitzky-Golay
matrices are the NumPy path's own, embedded as constants.  Every column is tested equal
to the extraction's within 1e-4 of its range, on demo clips and on real speech.

The arithmetic is the NumPy path's, arranged for what LiteRT runs fast on one core: one
``2 n_fft``-point spectrum per frame as matrix products (`real_dft`) serves YIN and, by
three taps, the voice block (`doubled_spectra`); one constant gives both their
autocorrelation drops (`drop_transform`); convolutions, slices and products stand in for
gathers, selects and powers, which LiteRT computes element by element.  Only operators
LiteRT runs as built-ins are used (real FFT, matmul, convolution, top-k, gather,
cumulative sum, ...), so the exported ``waveform.tflite`` needs no select ops.  The graph
takes one clip; `utterance_batch` maps it over a batch of clips for the SavedModel.
TensorFlow is imported only when it runs.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

import numpy as np

from ..signal.spectral import dct_basis, hann_window, mel_basis
from . import functionals as fn
from . import voice
from .graph import _zero_crossing_rate

if TYPE_CHECKING:
    from .registry import FeatureConfig

#: The kinds this module gives a graph form.
UTTERANCE_KINDS = ("functionals", "lld", "fusion")
#: Widths of the Savitzky-Golay deltas a clip can need (`ser_keras.features.functionals.delta_width`).
DELTA_WIDTHS = (9, 7)
#: Trough threshold of ``librosa.yin``.
YIN_THRESHOLD = 0.1


def utterance_batch(waveform, config: FeatureConfig):
    """The kind's features of each clip of a batch: ``(batch, n)`` -> ``(batch, *config.output_shape())``.

    Each clip is trimmed on its own, so padding a shorter clip with zeros to the batch's
    length (silence at the end) changes its features only where the padding meets the
    last analysis frame.
    """
    import tensorflow as tf

    shape = config.output_shape()
    return tf.map_fn(
        lambda y: kind_features(y, config)[0],
        waveform,
        fn_output_signature=tf.TensorSpec(shape, tf.float32),
    )


def kind_features(y, config: FeatureConfig):
    """The features of ``config.kind`` of one clip, and its seconds of sound after trimming.

    Parameters
    ----------
    y : tf.Tensor [shape=(n,), dtype=float32]
    config : FeatureConfig
        Of kind ``functionals``, ``lld`` or ``fusion``.

    Returns
    -------
    x : tf.Tensor [shape=config.output_shape()]
    sound_seconds : tf.Tensor [shape=(), dtype=float32]
        Below `ser_keras.features.functionals.MIN_SOUND_SECONDS` the extraction refuses the
        clip; the graph answers anyway (on the sound zero-padded to that length).
    """
    import tensorflow as tf

    from .fusion_kind import fusion_parts

    if config.kind == "fusion":
        utterance, frames = fusion_parts(config)
        vector, sequence, seconds = utterance_features(y, utterance, sequence_frames=frames.sequence_frames)
        return tf.concat([vector, tf.reshape(sequence, [-1])], axis=0), seconds
    vector, sequence, seconds = utterance_features(y, config, sequence_frames=config.sequence_frames)
    return (vector if config.kind == "functionals" else sequence), seconds


def utterance_features(y, config: FeatureConfig, *, sequence_frames: int | None):
    """The functionals vector and the ``lld`` frames of one clip.

    Parameters
    ----------
    y : tf.Tensor [shape=(n,), dtype=float32]
        At ``config.sr``.
    config : FeatureConfig
        The functionals' analysis settings.
    sequence_frames : int or None
        Frames of the ``lld`` example (None: the frames are not built).

    Returns
    -------
    vector : tf.Tensor [shape=(n_features(config),)]
    sequence : tf.Tensor [shape=(sequence_frames, n_descriptors)] or None
    sound_seconds : tf.Tensor [shape=()]
    """
    import tensorflow as tf

    sr, n_fft, hop = config.sr, config.n_fft, config.hop_length
    y = trim(y, config)
    n_sound = tf.shape(y)[0]
    sound_seconds = tf.cast(n_sound, tf.float32) / sr
    shortest = max(n_fft, int(fn.MIN_SOUND_SECONDS * sr))
    y = tf.pad(y, [[0, tf.maximum(shortest - n_sound, 0)]])

    frames = frame(tf.pad(y, [[n_fft // 2, n_fft // 2]]), n_fft, hop)  # (T, n_fft), centred
    n_frames = tf.shape(frames)[0]
    spectrum = tf.signal.rfft(frames * tf.constant(hann_window(n_fft)))  # an FFT's rounding: contrast's valleys
    power = tf.math.square(tf.math.real(spectrum)) + tf.math.square(tf.math.imag(spectrum))  # (T, 1 + n_fft // 2)
    wide_power, wide_windowed_power = doubled_spectra(frames)  # (T, n_fft + 1) each: YIN's and the voice block's
    magnitude = tf.math.sqrt(power)
    mel = tf.linalg.matmul(power, tf.constant(mel_basis(sr=sr, n_fft=n_fft, n_mels=config.n_mels).T))
    log_mel = _db(mel)
    floored = tf.maximum(log_mel, tf.reduce_max(log_mel) - config.top_db)
    mfcc = tf.linalg.matmul(floored, tf.constant(dct_basis(n_mels=config.n_mels, n_mfcc=config.n_mfcc).T))
    zcr = _zero_crossing_rate(y[None], frame_length=n_fft, hop_length=hop)[0]
    rms = tf.math.sqrt(tf.reduce_sum(tf.math.square(frames), axis=1) / n_fft)
    log_rms = 20.0 * tf.math.log(tf.maximum(rms, 1e-5)) / np.log(10.0)
    freqs = np.linspace(0.0, sr / 2, n_fft // 2 + 1)
    norm = magnitude / _nonzero(tf.reduce_sum(magnitude, axis=1, keepdims=True))
    centroid = tf.reduce_sum(norm * freqs.astype(np.float32), axis=1)
    bandwidth = tf.math.sqrt(tf.reduce_sum(norm * tf.math.square(freqs.astype(np.float32) - centroid[:, None]), axis=1))
    cumulative = tf.math.cumsum(magnitude, axis=1)
    short = tf.cast(cumulative < 0.85 * cumulative[:, -1:], tf.float32)  # the bins before the rolloff (a prefix)
    rolloff = tf.reduce_sum(short, axis=1) * np.float32(freqs[1])  # the first bin reaching 85 %, in Hz
    thresholded = tf.maximum(tf.math.square(magnitude), 1e-10)
    flatness = tf.math.exp(tf.reduce_mean(tf.math.log(thresholded), axis=1)) / tf.reduce_mean(thresholded, axis=1)
    rises = tf.reduce_mean(tf.maximum(log_mel[1:] - log_mel[:-1], 0.0), axis=1)
    flux = tf.slice(tf.concat([tf.zeros([3]), rises], axis=0), [0], [n_frames])  # onset_strength's centring
    lld = tf.concat(
        [
            log_mel,
            mfcc,
            delta(mfcc, order=1),
            delta(mfcc, order=2),
            spectral_contrast(magnitude, config),
            tf.stack(
                [
                    tf.math.log1p(centroid),
                    tf.math.log1p(bandwidth),
                    tf.math.log1p(rolloff),
                    tf.math.log(flatness + 1e-10),
                    zcr,
                    log_rms,
                    delta(log_rms[:, None], order=1)[:, 0],
                    flux,
                ],
                axis=1,
            ),
        ],
        axis=1,
    )  # (T, len(descriptor_names))
    transform = drop_transform(config)  # one constant for YIN's lags and the voice block's
    f0 = yin(frames, tf.linalg.matmul(wide_power, transform)[:, 1 : periods(config)[1] + 1], config)
    voiced = (log_rms > tf.reduce_max(log_rms) - fn.VOICED_DB) & (zcr < fn.VOICED_MAX_ZCR)
    chosen = tf.cond(
        tf.reduce_sum(tf.cast(voiced, tf.int32)) >= 3, lambda: voiced, lambda: tf.ones_like(voiced)
    )  # the frames of the voiced summaries
    semitones = 12.0 * tf.math.log(f0 / 100.0) / np.log(2.0)
    chosen_index = tf.where(chosen)[:, 0]
    f0_voiced = tf.gather(semitones, chosen_index)
    mfcc_voiced = tf.gather(mfcc, chosen_index)
    log_mel_voiced = tf.gather(log_mel, chosen_index)
    voiced_inputs = (tf.gather(x, chosen_index) for x in (frames, wide_windowed_power, f0))
    voice_rows = voice.voice_block_graph(*voiced_inputs, transform, config, hnr_lags=hnr_lag_bounds(config))
    log_mel_delta = delta(log_mel, order=1)
    f0_summary = summarize(f0_voiced[:, None])  # (1, len(STATISTICS)); its median is the contour's fallback pitch
    vector = tf.concat(
        [
            tf.reshape(summarize(lld), [-1]),
            tf.reshape(summarize(mfcc_voiced), [-1]),
            tf.reshape(f0_summary, [-1]),
            tf.reshape(summarize((f0_voiced[1:] - f0_voiced[:-1])[:, None]), [-1]),
            tf.reshape(summarize(voice_rows), [-1]),
            tf.stack([sound_seconds, tf.reduce_mean(tf.cast(voiced, tf.float32))]),
            contour(log_mel, mfcc, log_rms, semitones, voiced, fallback_f0=f0_summary[0, fn.STATISTICS.index("p50")]),
            tf.reduce_mean(log_mel_voiced, axis=0),
            _std(log_mel_voiced),
            _std(log_mel_delta),
            tf.reduce_mean(tf.abs(log_mel_delta), axis=0),
        ],
        axis=0,
    )
    if sequence_frames is None:
        return vector, None, sound_seconds
    rows = tf.concat([lld, semitones[:, None], tf.cast(voiced, tf.float32)[:, None]], axis=1)
    return vector, fit_frames(rows, sequence_frames), sound_seconds


def trim(y, config: FeatureConfig):
    """``librosa.effects.trim(y, top_db=config.trim_db, frame_length=n_fft, hop_length=hop)`` of one clip."""
    import tensorflow as tf

    if config.trim_db is None:
        return y
    n_fft, hop = config.n_fft, config.hop_length
    mean_square = frame_mean_squares(tf.pad(y, [[n_fft // 2, n_fft // 2]]), n_fft, hop)
    db = _db(mean_square) - _db(tf.reduce_max(mean_square))
    sounding = db > -config.trim_db
    n_frames = tf.shape(mean_square)[0]
    index = tf.range(n_frames)
    first = tf.reduce_min(tf.where(sounding, index, n_frames))
    last = tf.reduce_max(tf.where(sounding, index, -1))
    start = tf.minimum(first * hop, tf.shape(y)[0])
    end = tf.minimum(tf.shape(y)[0], (last + 1) * hop)
    return tf.slice(y, [start], [tf.maximum(end - start, 0)])  # tf.slice: LiteRT copies a dynamic slice at once


def _blocks(y, frame_length: int, hop_length: int):
    """``y`` ``(n,)`` as hop-long blocks ``(n_frames + frame_length // hop - 1, hop)``, and ``n_frames``."""
    import tensorflow as tf

    n_frames = 1 + (tf.shape(y)[0] - frame_length) // hop_length
    n_blocks = n_frames + frame_length // hop_length - 1
    return tf.reshape(tf.slice(y, [0], [n_blocks * hop_length]), [n_blocks, hop_length]), n_frames


def frame(y, frame_length: int, hop_length: int):
    """``tf.signal.frame`` of one signal ``(n,)``: ``(1 + (n - frame_length) // hop_length, frame_length)``.

    When the hop divides the frame, each frame is its hop-long blocks side by side (copies
    of whole rows, which LiteRT makes at once); otherwise ``tf.signal.frame``.
    """
    import tensorflow as tf

    if frame_length % hop_length:
        return tf.signal.frame(y, frame_length, hop_length)
    blocks, n_frames = _blocks(y, frame_length, hop_length)
    parts = [tf.slice(blocks, [j, 0], [n_frames, hop_length]) for j in range(frame_length // hop_length)]
    return tf.concat(parts, axis=1)


def frame_mean_squares(y, frame_length: int, hop_length: int):
    """``mean(frame(y, frame_length, hop_length) ** 2, axis=1)``: ``(1 + (n - frame_length) // hop,)``.

    When the hop divides the frame, from the energies of hop-long blocks (each sample squared
    once, no frames formed).
    """
    import tensorflow as tf

    if frame_length % hop_length:
        return tf.reduce_mean(tf.math.square(frame(y, frame_length, hop_length)), axis=1)
    blocks, n_frames = _blocks(y, frame_length, hop_length)
    energy = tf.reduce_sum(tf.math.square(blocks), axis=1)
    parts = [tf.slice(energy, [j], [n_frames]) for j in range(frame_length // hop_length)]
    return tf.add_n(parts) / frame_length


def _db(power):
    """``10 log10(max(power, 1e-10))``."""
    import tensorflow as tf

    return 10.0 * tf.math.log(tf.maximum(power, 1e-10)) / np.log(10.0)


def _nonzero(total):
    """``librosa.util.normalize``'s guard: a sum below float32's tiny divides by 1."""
    import tensorflow as tf

    return tf.where(total < np.finfo(np.float32).tiny, 1.0, total)


@functools.lru_cache(maxsize=8)
def savgol_matrices(width: int, order: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``librosa.feature.delta`` (``scipy.signal.savgol_filter``, ``mode='interp'``) as three linear maps.

    Returns
    -------
    kernel : np.ndarray [shape=(width,)]
        ``out[t] = kernel @ x[t - width // 2 : t + width // 2 + 1]`` inside the signal.
    left, right : np.ndarray [shape=(width // 2, width)]
        The first and last ``width // 2`` outputs from the first and last ``width`` inputs
        (the polynomial fit of ``mode='interp'``).
    """
    import scipy.signal

    half, n = width // 2, 2 * width
    operator = scipy.signal.savgol_filter(np.eye(n), width, order, deriv=order, mode="interp", axis=0)
    return operator[half, :width], operator[:half, :width], operator[n - half :, n - width :]


def delta(x, *, order: int):
    """``librosa.feature.delta(x.T, width=delta_width(T), order=order).T`` of ``x`` ``(T, d)``, ``T >= 7``."""
    import tensorflow as tf

    n = tf.shape(x)[0]
    answers = []
    for width in DELTA_WIDTHS:
        kernel, left, right = (m.astype(np.float32) for m in savgol_matrices(width, order))
        padded = tf.pad(x, [[0, tf.maximum(width - n, 0)], [0, 0]])  # defined (and unused) when too short
        m = tf.shape(padded)[0]
        d = x.shape[1]
        filters = np.tile(kernel[:, None, None, None], (1, 1, d, 1))  # the same kernel on every column
        image = tf.reshape(padded, [1, m, 1, d])  # reshape, not [None, :, None]: LiteRT has no new-axis slice
        inner = tf.nn.depthwise_conv2d(image, filters, strides=[1, 1, 1, 1], padding="VALID")
        inner = tf.reshape(inner, [m - width + 1, d])
        answer = tf.concat(
            [tf.linalg.matmul(left, padded[:width]), inner, tf.linalg.matmul(right, padded[m - width :])], axis=0
        )
        answers.append(tf.slice(answer, [0, 0], [n, -1]))
    return tf.where(n >= DELTA_WIDTHS[0], answers[0], answers[1])


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


def spectral_contrast(magnitude, config: FeatureConfig):
    """``spectral_contrast(S=contrast_input(magnitude.T), n_bands=N_CONTRAST_BANDS).T``: ``(T, n_bands + 1)``."""
    import tensorflow as tf

    magnitude = tf.maximum(magnitude, fn.CONTRAST_FLOOR * tf.reduce_max(magnitude, axis=1, keepdims=True))
    peaks, valleys = [], []
    for bins, count in contrast_bands(sr=config.sr, n_fft=config.n_fft, n_bands=fn.N_CONTRAST_BANDS):
        band = magnitude[:, bins[0] : bins[-1] + 1]  # a band is a run of bins
        if count == 1:
            peaks.append(tf.reduce_max(band, axis=1))
            valleys.append(tf.reduce_min(band, axis=1))
        else:
            peaks.append(tf.reduce_mean(tf.math.top_k(band, count).values, axis=1))
            valleys.append(-tf.reduce_mean(tf.math.top_k(-band, count).values, axis=1))

    def to_db(x):  # librosa.power_to_db, its top_db=80 floor over the whole array
        db = _db(tf.stack(x, axis=1))
        return tf.maximum(db, tf.reduce_max(db) - 80.0)

    return to_db(peaks) - to_db(valleys)


@functools.lru_cache(maxsize=8)
def dft_factors(n_samples: int, fft_length: int) -> tuple[int, int, tuple[np.ndarray, ...]]:
    """The constants of `real_dft`: ``fft_length = stride * inner``, and its matrices (float32).

    Returns
    -------
    stride, inner : int
    matrices : tuple of np.ndarray
        The cosines and minus sines of the inner DFTs (over every ``stride``-th sample)
        ``(ceil(n_samples / stride), inner)``; the twiddle factors' cosines and minus sines
        ``(stride, inner)``; the cosines and sines of the outer DFTs over the strides, for the
        bins ``0 .. fft_length // 2`` only, ``(stride, fft_length // 2 // inner + 1)``.
    """
    stride = max(d for d in range(1, math.isqrt(fft_length) + 1) if fft_length % d == 0)  # the squarest split
    inner = fft_length // stride
    rows = -(-n_samples // stride)
    inner_angle = 2.0 * np.pi * np.outer(np.arange(rows), np.arange(inner)) / inner
    twiddle_angle = 2.0 * np.pi * np.outer(np.arange(stride), np.arange(inner)) / fft_length
    outer_angle = 2.0 * np.pi * np.outer(np.arange(stride), np.arange(fft_length // 2 // inner + 1)) / stride
    matrices = (
        np.cos(inner_angle),
        -np.sin(inner_angle),
        np.cos(twiddle_angle),
        -np.sin(twiddle_angle),
        np.cos(outer_angle),
        np.sin(outer_angle),
    )
    return stride, inner, tuple(m.astype(np.float32) for m in matrices)


def real_dft(frames, fft_length: int):
    """``tf.signal.rfft(frames, [fft_length])`` as matrix products (the four-step FFT): real and imaginary parts.

    ``fft_length = stride * inner`` (its squarest split); sample ``n1 + stride * n2`` of a frame
    meets bin ``inner * k1 + k2`` through an inner DFT over ``n2``, a twiddle factor and an
    outer DFT over ``n1`` (only the outer bins up to ``fft_length // 2`` are formed).  Real and
    imaginary parts travel as separate tensors (no slicing or joining, each a copy in LiteRT).
    LiteRT runs matrix products about twice as fast as its real FFT, within float32's rounding.

    Parameters
    ----------
    frames : tf.Tensor [shape=(T, n_samples), dtype=float32]
        Zero-padded to ``fft_length`` (``n_samples <= fft_length``).
    fft_length : int

    Returns
    -------
    real, imaginary : tf.Tensor [shape=(T, fft_length // 2 + 1)]
    """
    import tensorflow as tf

    n_samples = frames.shape[1]
    stride, inner, (inner_cos, inner_minus_sin, cos, minus_sin, outer_cos, outer_sin) = dft_factors(
        n_samples, fft_length
    )
    rows = inner_cos.shape[0]
    n_bins = outer_cos.shape[1]
    t = tf.shape(frames)[0]
    x = tf.pad(frames, [[0, 0], [0, rows * stride - n_samples]]) if rows * stride > n_samples else frames
    x = tf.reshape(tf.transpose(tf.reshape(x, [t, rows, stride]), [0, 2, 1]), [t * stride, rows])
    y_real = tf.reshape(tf.linalg.matmul(x, inner_cos), [t, stride, inner])
    y_imaginary = tf.reshape(tf.linalg.matmul(x, inner_minus_sin), [t, stride, inner])

    def by_inner_bin(z):  # (t, stride, inner) -> (t * inner, stride)
        return tf.reshape(tf.transpose(z, [0, 2, 1]), [t * inner, stride])

    z_real = by_inner_bin(y_real * cos - y_imaginary * minus_sin)
    z_imaginary = by_inner_bin(y_real * minus_sin + y_imaginary * cos)
    real = tf.linalg.matmul(z_real, outer_cos) + tf.linalg.matmul(z_imaginary, outer_sin)
    imaginary = tf.linalg.matmul(z_imaginary, outer_cos) - tf.linalg.matmul(z_real, outer_sin)

    def in_order(part):  # (t * inner, n_bins) -> bins inner * k1 + k2, up to fft_length // 2
        part = tf.transpose(tf.reshape(part, [t, inner, n_bins]), [0, 2, 1])
        return tf.reshape(part, [t, n_bins * inner])[:, : fft_length // 2 + 1]

    return in_order(real), in_order(imaginary)


def doubled_spectra(frames):
    """Power spectra of frames ``(T, n_fft)`` at ``2 n_fft`` points, bare and Hann-windowed: ``(T, n_fft + 1)`` each.

    One real FFT serves two descriptors.  The bare frames' spectrum is YIN's (`drop_transform`).
    The periodic Hann window of ``n_fft`` points is ``1/2 - cos(2 pi n / n_fft) / 2``, which at
    ``2 n_fft`` points moves two bins, so the windowed spectrum is ``X[k] / 2 - (X[k - 2] +
    X[k + 2]) / 4`` (the bins past either end are the mirrored conjugates): the voice block's.
    The three-tap sum cancels where the bare spectrum's leakage dwarfs the windowed one, so
    descriptors of the quietest bins (spectral contrast's valleys) take the STFT's own FFT.
    """
    import tensorflow as tf

    n_fft = frames.shape[1]
    real, imaginary = real_dft(frames, 2 * n_fft)

    def windowed(part, mirror):  # bins -2 .. n_fft + 2, then the three-tap sum
        extended = tf.concat([mirror * part[:, 2:0:-1], part, mirror * part[:, n_fft - 1 : n_fft - 3 : -1]], axis=1)
        return 0.5 * extended[:, 2:-2] - 0.25 * (extended[:, :-4] + extended[:, 4:])

    bare = tf.math.square(real) + tf.math.square(imaginary)
    return bare, tf.math.square(windowed(real, 1.0)) + tf.math.square(windowed(imaginary, -1.0))


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


def yin(frames, drops, config: FeatureConfig):
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


def _percentiles(x, q):
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


def _std(x):
    """Population standard deviation over time of ``x`` ``(t, d)``."""
    import tensorflow as tf

    mean = tf.reduce_mean(x, axis=0)
    return tf.math.sqrt(tf.reduce_mean(tf.math.square(x - mean), axis=0))


def summarize(x):
    """`ser_keras.features.functionals.summarize` of ``x`` ``(t, d)`` (rows over time): ``(d, len(STATISTICS))``."""
    import tensorflow as tf

    mean = tf.reduce_mean(x, axis=0)
    centred = x - mean
    variance = tf.reduce_mean(tf.math.square(centred), axis=0)
    std = tf.math.sqrt(variance)
    p5, p25, p50, p75, p95 = tf.unstack(_percentiles(x, [5.0, 25.0, 50.0, 75.0, 95.0]))
    varies = std > 1e-12
    safe = tf.where(varies, std, 1.0)
    z = centred / safe  # standardised first: std**4 of a near-constant row would flush to zero in float32
    z_squared = tf.math.square(z)  # products, not powers: LiteRT's POW is an exp and a log
    skew = tf.where(varies, tf.reduce_mean(z_squared * z, axis=0), 0.0)
    kurtosis = tf.where(varies, tf.reduce_mean(tf.math.square(z_squared), axis=0) - 3.0, 0.0)
    return tf.stack([mean, std, p5, p25, p50, p75, p95, p75 - p25, skew, kurtosis], axis=1)


def contour(log_mel, mfcc, log_rms, semitones, voiced, *, fallback_f0):
    """`ser_keras.features.functionals.contour` of frames ``(T, ...)``: ``(SEGMENTS * (n_mels + n_mfcc + 2),)``.

    Each part's means are one product with its frames' indicator (voiced frames only for the pitch).
    """
    import tensorflow as tf

    n = tf.shape(log_mel)[0]
    edges = tf.stack([(j * n) // fn.SEGMENTS for j in range(fn.SEGMENTS + 1)])
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


def fit_frames(rows, n_frames: int):
    """`ser_keras.features.lld.fit_frames`: ``(T, d)`` -> ``(n_frames, d)`` (middle kept, or repeated)."""
    import tensorflow as tf

    t = tf.shape(rows)[0]
    start = tf.maximum(t - n_frames, 0) // 2
    index = tf.where(t >= n_frames, start + tf.range(n_frames), tf.range(n_frames) % t)
    return tf.gather(rows, index)
