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
from .contrast import spectral_contrast_graph
from .graph import _zero_crossing_rate
from .level import add_floor_graph, normalize_level_graph, remove_dc_graph
from .pitch import drop_transform, hnr_lag_bounds, periods, voiced_frames_graph, yin_graph
from .summaries import STATISTICS, contour_graph, std_graph, summarize_graph

if TYPE_CHECKING:
    from .config import FeatureConfig

#: The kinds this module gives a graph form.
UTTERANCE_KINDS = ("functionals", "lld", "fusion")
#: Widths of the Savitzky-Golay deltas a clip can need (`ser_keras.features.functionals.delta_width`).
DELTA_WIDTHS = (9, 7)


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
    y = trim(remove_dc_graph(y), config)
    n_sound = tf.shape(y)[0]
    sound_seconds = tf.cast(n_sound, tf.float32) / sr
    shortest = max(n_fft, int(fn.MIN_SOUND_SECONDS * sr))
    y = remove_dc_graph(y)  # the sound's own mean
    y = normalize_level_graph(y, loudest_rms=loudest_frame_rms(y, config))
    y = add_floor_graph(tf.pad(y, [[0, tf.maximum(shortest - n_sound, 0)]]))

    frames = frame(tf.pad(y, [[n_fft // 2, n_fft // 2]]), n_fft, hop)  # (T, n_fft), centred
    n_frames = tf.shape(frames)[0]
    # the STFT's own spectrum, not the even bins of the doubled one (whose three-tap window sum cancels in
    # spectral contrast's valleys)
    real, imaginary = real_dft(frames * tf.constant(hann_window(n_fft)), n_fft)
    power = tf.math.square(real) + tf.math.square(imaginary)  # (T, 1 + n_fft // 2)
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
            spectral_contrast_graph(magnitude, config),
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
    f0 = yin_graph(frames, tf.linalg.matmul(wide_power, transform)[:, 1 : periods(config)[1] + 1], config)
    voiced = voiced_frames_graph(log_rms, zcr)
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
    f0_summary = summarize_graph(f0_voiced[:, None])  # (1, len(STATISTICS)); its median is the contour's fallback pitch
    vector = tf.concat(
        [
            tf.reshape(summarize_graph(lld), [-1]),
            tf.reshape(summarize_graph(mfcc_voiced), [-1]),
            tf.reshape(f0_summary, [-1]),
            tf.reshape(summarize_graph((f0_voiced[1:] - f0_voiced[:-1])[:, None]), [-1]),
            tf.reshape(summarize_graph(voice_rows), [-1]),
            tf.stack([sound_seconds, tf.reduce_mean(tf.cast(voiced, tf.float32))]),
            contour_graph(
                log_mel, mfcc, log_rms, semitones, voiced, fallback_f0=f0_summary[0, STATISTICS.index("p50")]
            ),
            tf.reduce_mean(log_mel_voiced, axis=0),
            std_graph(log_mel_voiced),
            std_graph(log_mel_delta),
            tf.reduce_mean(tf.abs(log_mel_delta), axis=0),
        ],
        axis=0,
    )
    if sequence_frames is None:
        return vector, None, sound_seconds
    rows = tf.concat([lld, semitones[:, None], tf.cast(voiced, tf.float32)[:, None]], axis=1)
    return vector, fit_frames(rows, sequence_frames), sound_seconds


def loudest_frame_rms(y, config: FeatureConfig):
    """`ser_keras.features.functionals.loudest_frame_rms` of one clip ``(n,)``: a scalar."""
    import tensorflow as tf

    n_fft, hop = config.n_fft, config.hop_length
    return tf.math.sqrt(tf.reduce_max(frame_mean_squares(tf.pad(y, [[n_fft // 2, n_fft // 2]]), n_fft, hop)))


def trim(y, config: FeatureConfig):
    """`ser_keras.features.functionals.trim` of one clip ``(n,)``."""
    import tensorflow as tf

    if config.trim_db is None:
        return y
    magnitude = tf.abs(y)
    strong = magnitude >= tf.reduce_max(magnitude) * np.float32(10.0 ** (-config.trim_db / 20.0))
    n = tf.shape(y)[0]
    index = tf.range(n)
    first = tf.reduce_min(tf.where(strong, index, n))
    last = tf.reduce_max(tf.where(strong, index, -1))
    margin = int(round(fn.TRIM_MARGIN_SECONDS * config.sr))
    found = last >= first
    start = tf.where(found, tf.maximum(first - margin, 0), 0)
    end = tf.where(found, tf.minimum(last + 1 + margin, n), n)
    return tf.slice(y, [start], [end - start])  # tf.slice: LiteRT copies a dynamic slice at once


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


def fit_frames(rows, n_frames: int):
    """`ser_keras.features.lld.fit_frames`: ``(T, d)`` -> ``(n_frames, d)`` (middle kept, or repeated)."""
    import tensorflow as tf

    t = tf.shape(rows)[0]
    start = tf.maximum(t - n_frames, 0) // 2
    index = tf.where(t >= n_frames, start + tf.range(n_frames), tf.range(n_frames) % t)
    return tf.gather(rows, index)
