"""What the utterance kinds do to a clip before any descriptor: no DC, one level, one noise floor.

Nothing a listener cannot hear should move the features.  Before the descriptors of the
``functionals``, ``lld`` and ``fusion`` kinds, each clip

1. loses its mean (`remove_dc`): an offset would hold the silence above the trimming threshold
   and suppress zero crossings;
2. is trimmed (`ser_keras.features.functionals.trim`, relative to its loudest frame, so
   independent of gain);
3. is scaled so that its loudest analysis frame has the RMS `REFERENCE_RMS`
   (`normalize_level`): the descriptors no longer see the recording's gain, and the level does
   not depend on how much of the clip is pause;
4. gets a fixed noise floor `DITHER_DB` below that level (`add_floor`), the same sequence on
   every clip: the digital silence of a gated recording and the hiss of a real room then look
   alike, and a floor of -90 dBFS, a 16-bit rounding or a resampler's empty top band cannot
   swing a log-spectrum from -100 dB to -60 dB.

The NumPy forms serve extraction; the ``_graph`` forms are the same definitions in
TensorFlow ops for the exported models.  Tests pin the two equal.
"""

from __future__ import annotations

import functools

import numpy as np

#: The RMS of every clip's loudest frame after `normalize_level` (-20 dBFS).
REFERENCE_RMS = 0.1
#: The noise floor's level relative to `REFERENCE_RMS`, in dB (RMS against RMS).
DITHER_DB = -50.0
#: Samples of the floor's sequence, repeated along a clip (a prime, so that it never lines up with a hop).
DITHER_LENGTH = 4099
#: An RMS below this is taken as this when scaling (a clip of digital silence stays silent).
MIN_RMS = 1e-8


@functools.lru_cache(maxsize=1)
def floor_sequence() -> np.ndarray:
    """The noise floor's `DITHER_LENGTH` samples: white, Gaussian, of RMS ``REFERENCE_RMS * 10**(DITHER_DB / 20)``.

    Returns
    -------
    floor : np.ndarray [shape=(DITHER_LENGTH,), dtype=float32]
        The same on every call and every machine (a fixed seed; read-only).
    """
    noise = np.random.default_rng(0).standard_normal(DITHER_LENGTH)
    noise *= REFERENCE_RMS * 10.0 ** (DITHER_DB / 20.0) / np.sqrt(np.mean(noise**2))
    floor = noise.astype(np.float32)
    floor.flags.writeable = False
    return floor


def floor_magnitude(n_fft: int) -> float:
    """The RMS magnitude of one STFT bin (periodic Hann window of ``n_fft``) of the floor alone.

    Below it a bin of a clip's spectrum is the floor's noise: its value is chance.
    """
    from ..signal.spectral import hann_window

    window = np.asarray(hann_window(n_fft), dtype=np.float64)
    return float(REFERENCE_RMS * 10.0 ** (DITHER_DB / 20.0) * np.sqrt(np.sum(window**2)))


def remove_dc(y: np.ndarray) -> np.ndarray:
    """``y - mean(y)`` of one clip ``(n,)``, float32."""
    y = np.asarray(y, dtype=np.float32)
    return y - np.float32(y.mean(dtype=np.float64))


def normalize_level(y: np.ndarray, *, loudest_rms: float) -> np.ndarray:
    """``y`` ``(n,)`` scaled so that ``loudest_rms`` (its loudest frame's RMS) becomes `REFERENCE_RMS`, float32."""
    return np.asarray(y, dtype=np.float32) * np.float32(REFERENCE_RMS / max(float(loudest_rms), MIN_RMS))


def add_floor(y: np.ndarray) -> np.ndarray:
    """``y`` ``(n,)`` plus `floor_sequence` repeated to its length, float32."""
    y = np.asarray(y, dtype=np.float32)
    return y + np.resize(floor_sequence(), y.shape[0])


def remove_dc_graph(y):
    """`remove_dc` in TensorFlow ops."""
    import tensorflow as tf

    return y - tf.reduce_mean(y)


def normalize_level_graph(y, *, loudest_rms):
    """`normalize_level` in TensorFlow ops."""
    import tensorflow as tf

    return y * (REFERENCE_RMS / tf.maximum(loudest_rms, MIN_RMS))


def add_floor_graph(y):
    """`add_floor` in TensorFlow ops: the floor is one constant, tiled and cut to the clip's length."""
    import tensorflow as tf

    n = tf.shape(y)[0]
    repeats = (n + DITHER_LENGTH - 1) // DITHER_LENGTH
    return y + tf.slice(tf.tile(tf.constant(floor_sequence()), [repeats]), [0], [n])
