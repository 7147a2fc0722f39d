"""The ``voice`` block of the functionals: harmonicity, formants and spectral balance of voiced frames.

After eGeMAPS (Eyben et al. 2016): per analysis frame, the harmonics-to-noise ratio,
the first three formants (LPC) and the alpha ratio and Hammarberg index of the spectrum
(`VOICE_ROWS`), from one zero-padded FFT per frame (`voice_descriptors`).  They have no
librosa counterpart; their tests check them on a synthetic vowel of known formants and
on tones of known level ratio.  Their graph form (`voice_block_graph`, for the exported
``waveform.tflite``) follows the NumPy form below, one definition in two arithmetics; TensorFlow
is imported only when it runs.
"""

from __future__ import annotations

import numpy as np

#: The ``voice`` descriptors (`voice_descriptors`), summarised over voiced frames.
VOICE_ROWS = (
    "voice_hnr_db",
    "voice_log_f1",
    "voice_log_f2",
    "voice_log_f3",
    "voice_alpha_ratio_db",
    "voice_hammarberg_db",
)
#: Pre-emphasis of the formant analysis (the spectrum is tilted up by ``|1 - a e^{-iw}|^2``).
PRE_EMPHASIS = 0.97
#: Formants are sought in this frequency range (Hz).
FORMANT_RANGE = (90.0, 5000.0)


def voice_descriptors(y: np.ndarray, f0: np.ndarray, frames: np.ndarray, *, config) -> np.ndarray:
    """Voice descriptors (`VOICE_ROWS`) of the chosen analysis frames, from one zero-padded FFT per frame.

    Each Hann-windowed frame (the analysis frames of `low_level_descriptors`) is
    transformed once at ``2 n_fft`` points; its power spectrum gives

    - the harmonics-to-noise ratio ``10 log10(r / (1 - r))`` in dB, where ``r`` is the
      frame's autocorrelation at the pitch period ``sr / f0`` (best of +-2 lags),
      divided by the window's own autocorrelation (Boersma 1993);
    - the log frequencies (Hz) of the first three formants: the peaks of the LPC
      envelope (order ``2 + sr // 1000``, autocorrelation method, `PRE_EMPHASIS` applied
      to the spectrum) in `FORMANT_RANGE` (`lpc_formants`); where a frame has fewer,
      the row's median over the other frames (0 if none);
    - the alpha ratio (dB of 50-1000 Hz over 1-5 kHz energy) and the Hammarberg index
      (dB of the strongest bin below 2 kHz over the strongest in 2-5 kHz).

    Parameters
    ----------
    y : np.ndarray [shape=(n,), dtype=float32]
        The trimmed signal at ``config.sr``.
    f0 : np.ndarray [shape=(n_frames,)]
        The pitch track in Hz, one value per analysis frame (``librosa.yin``).
    frames : np.ndarray [shape=(n_frames,), dtype=bool]
        The frames to describe (the voiced ones).
    config : FeatureConfig

    Returns
    -------
    rows : np.ndarray [shape=(len(VOICE_ROWS), frames.sum()), dtype=float64]
        Finite.
    """
    import scipy.fft

    from ..signal.spectral import frame_signal, hann_window

    sr, n_fft = config.sr, config.n_fft
    signal_frames = frame_signal(
        np.asarray(y, dtype=np.float32)[None], n_fft=n_fft, hop_length=config.hop_length, pad_mode="constant"
    )[0][frames]
    window = hann_window(n_fft).astype(np.float64)
    power = np.abs(scipy.fft.rfft(signal_frames * window, n=2 * n_fft, axis=-1)) ** 2  # (frames, n_fft + 1)
    freqs = np.linspace(0.0, sr / 2, n_fft + 1)

    autocorrelation = scipy.fft.irfft(power, axis=-1)
    window_autocorrelation = scipy.fft.irfft(np.abs(scipy.fft.rfft(window, n=2 * n_fft)) ** 2)
    lags = np.clip(np.round(sr / f0[frames]).astype(int), 2, n_fft // 2)[:, None] + np.arange(-2, 3)
    normalised = (
        np.take_along_axis(autocorrelation, lags, axis=1)
        / np.maximum(autocorrelation[:, :1], 1e-20)
        / (window_autocorrelation[lags] / window_autocorrelation[0])
    )
    peak = np.clip(normalised.max(axis=1), 1e-4, 1.0 - 1e-4)
    hnr = 10.0 * np.log10(peak / (1.0 - peak))

    floor = 1e-12
    low, high = (freqs >= 50) & (freqs < 1000), (freqs >= 1000) & (freqs < 5000)
    alpha_ratio = 10.0 * np.log10((power[:, low].sum(axis=1) + floor) / (power[:, high].sum(axis=1) + floor))
    hammarberg = 10.0 * np.log10(
        (power[:, freqs < 2000].max(axis=1) + floor) / (power[:, (freqs >= 2000) & (freqs < 5000)].max(axis=1) + floor)
    )

    emphasis = np.abs(1.0 - PRE_EMPHASIS * np.exp(-1j * np.pi * freqs / (sr / 2))) ** 2
    formants = lpc_formants(scipy.fft.irfft(power * emphasis, axis=-1), order=2 + sr // 1000, sr=sr)
    return _fill_missing(np.vstack([hnr, np.log(formants.T), alpha_ratio, hammarberg]))


#: The LPC envelope is searched for formant peaks on this grid (Hz): `FORMANT_RANGE` in steps of `FORMANT_STEP`.
FORMANT_STEP = 10.0
#: White-noise correction: the zero lag raised by this share (-40 dB, as speech codecs do), which bounds the
#: condition number of the Toeplitz system so that float32 solves it as float64 does.
LPC_RIDGE = 1e-4


#: A peak's frequency is refined by the parabola through the envelope this many grid steps either side: on a
#: broad formant the neighbours' log values differ by 1e-3, and float32's rounding of them would move it.
PARABOLA_SPAN = 4
#: The parabola's curvature (the sum of the two log ratios) is taken as at most this (a flat top).
FLAT_TOP = -1e-6


def formant_grid() -> np.ndarray:
    """Frequencies (Hz) at which a formant peak is looked for: ``(n_grid,)``."""
    low, high = FORMANT_RANGE
    return np.arange(low, high + FORMANT_STEP / 2, FORMANT_STEP)


def envelope_grid() -> np.ndarray:
    """Frequencies (Hz) at which the LPC envelope is evaluated: the `formant_grid` and `PARABOLA_SPAN` steps beyond
    either end, ``(n_grid + 2 PARABOLA_SPAN,)``."""
    steps = np.arange(-PARABOLA_SPAN, formant_grid().size + PARABOLA_SPAN)
    return FORMANT_RANGE[0] + FORMANT_STEP * steps


def envelope_basis(*, order: int, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """``cos``, ``sin`` of ``2 pi f k / sr``, lags ``k = 0..order``, the `envelope_grid`: ``(order + 1, n_env)`` each.

    ``A(f) = sum_k a_k e^{-2 pi i f k / sr}``, so ``|A(f)|^2 = (a @ cos)^2 + (a @ sin)^2``.
    """
    angle = 2.0 * np.pi * np.outer(np.arange(order + 1), envelope_grid()) / sr
    return np.cos(angle), np.sin(angle)


def levinson(autocorrelation: np.ndarray, *, order: int) -> np.ndarray:
    """LPC coefficients by the Levinson-Durbin recursion, vectorised over frames.

    Parameters
    ----------
    autocorrelation : np.ndarray [shape=(n_frames, >= order + 1)]
        Lags 0, 1, ...; the zero lag is raised by `LPC_RIDGE` (relative).

    Returns
    -------
    a : np.ndarray [shape=(n_frames, order + 1)]
        ``a[:, 0] = 1``; the predictor is ``x[n] = -sum_k a[k] x[n - k]``.
    """
    r = autocorrelation[:, : order + 1]
    a = np.zeros_like(r)
    a[:, 0] = 1.0
    error = r[:, 0] * (1.0 + LPC_RIDGE)
    for i in range(1, order + 1):
        k = -np.sum(a[:, :i] * r[:, i:0:-1], axis=1) / error
        a[:, 1 : i + 1] = a[:, 1 : i + 1] + k[:, None] * a[:, i - 1 :: -1]
        error = error * (1.0 - k * k)
    return a


def lpc_formants(autocorrelation: np.ndarray, *, order: int, sr: int, n_formants: int = 3) -> np.ndarray:
    """The lowest formant frequencies of each frame: peaks of its LPC envelope on the `formant_grid`.

    LPC by the autocorrelation method (`levinson`); the envelope ``1 / |A(f)|^2`` is
    evaluated on the grid, and a formant is a grid point above its left neighbour and
    not below its right one (`FORMANT_RANGE` without its ends), refined by the parabola
    through the log envelope `PARABOLA_SPAN` steps either side (`peak_shifts`).  The
    same arithmetic runs in the graph form (`lpc_formants_graph`), in float32 there and
    float64 here.

    Parameters
    ----------
    autocorrelation : np.ndarray [shape=(n_frames, >= order + 1)]
    order : int
    sr : int
    n_formants : int

    Returns
    -------
    formants : np.ndarray [shape=(n_frames, n_formants)]
        In Hz, ascending; NaN where a frame has fewer peaks (or no energy).
    """
    formants = np.full((autocorrelation.shape[0], n_formants), np.nan)
    frames = np.flatnonzero(autocorrelation[:, 0] > 1e-10)
    if frames.size == 0:
        return formants
    a = levinson(np.asarray(autocorrelation[frames], dtype=np.float64), order=order)
    cos, sin = envelope_basis(order=order, sr=sr)
    is_peak, shift = peak_shifts(np.maximum(np.square(a @ cos) + np.square(a @ sin), 1e-30), np)
    frequency = np.where(is_peak, formant_grid()[1:-1] + FORMANT_STEP * shift, np.inf)
    frequency = np.sort(frequency, axis=1)[:, :n_formants]
    formants[frames] = np.where(np.isfinite(frequency), frequency, np.nan)
    return formants


def peak_shifts(inverse_power, xp):
    """Which `formant_grid` points (without the ends) are envelope peaks, and how far (in grid steps) each one's
    parabola moves it.

    Works on ``|A(f)|^2`` on the `envelope_grid` (the envelope's inverse) through log ratios
    ``log(|A(f_0)|^2 / |A(f)|^2)``: differences of log values near the top of a broad peak
    would lose their digits to the values' own size.

    Parameters
    ----------
    inverse_power : array [shape=(t, n_env)]
        Positive.
    xp : module
        ``numpy`` or ``tensorflow.experimental.numpy``-like: ``log``, ``minimum``, ``clip``.

    Returns
    -------
    is_peak : array of bool [shape=(t, n_grid - 2)]
    shift : array [shape=(t, n_grid - 2)]
        In ``[-1/2, 1/2]``: the peak is at ``formant_grid()[1:-1] + FORMANT_STEP * shift``.
    """
    span, n_grid = PARABOLA_SPAN, formant_grid().size
    centre = inverse_power[:, span + 1 : span + n_grid - 1]

    def beside(offset):  # |A|^2 at ``offset`` grid steps from each candidate
        return inverse_power[:, span + 1 + offset : span + n_grid - 1 + offset]

    is_peak = (centre < beside(-1)) & (centre <= beside(1))
    left = xp.log(centre / beside(-span))  # the log envelope's left value minus the centre's
    right = xp.log(centre / beside(span))
    shift = span * 0.5 * (left - right) / xp.minimum(left + right, FLAT_TOP)
    return is_peak, xp.clip(shift, -0.5, 0.5)  # the peak lies within half a step of its grid point


def _fill_missing(rows: np.ndarray) -> np.ndarray:
    """Each row's NaNs replaced by the median of its other values (by 0 where it has none)."""
    missing = np.isnan(rows)
    if not missing.any():
        return rows
    counts = (~missing).sum(axis=1, keepdims=True)
    median = np.nanmedian(np.where(counts > 0, rows, 0.0), axis=1, keepdims=True)
    return np.where(missing, median, rows)


# --- the graph form: the same arithmetic in float32 TensorFlow ops (`ser_keras.features.utterance_graph`) ---


def voice_block_graph(frames, power, f0, transform, config, *, hnr_lags: tuple[int, int]):
    """`voice_descriptors` of the chosen frames in float32 TensorFlow ops: ``(t, len(VOICE_ROWS))``.

    Parameters
    ----------
    frames : tf.Tensor [shape=(t, n_fft)]
        The chosen (voiced) analysis frames, bare.
    power : tf.Tensor [shape=(t, n_fft + 1)]
        Their Hann-windowed power spectra at ``2 n_fft`` points (`doubled_spectra`).
    f0 : tf.Tensor [shape=(t,)]
        Their YIN pitch (Hz).
    transform : tf.Tensor
        ``ser_keras.features.pitch.drop_transform`` of ``config``: spectra -> ``r(0) - r(lag)``.
    config : FeatureConfig
    hnr_lags : (int, int)
        The pitch periods (samples) HNR centres on (``pitch.hnr_lag_bounds``).
    """
    import tensorflow as tf

    from ..signal.spectral import hann_window

    sr, n_fft = config.sr, config.n_fft
    window = hann_window(n_fft).astype(np.float64)
    freqs = np.linspace(0.0, sr / 2, n_fft + 1)

    # the autocorrelation at the pitch period +-2 lags, as r(0) - drop
    low, high = hnr_lags
    window_acf = np.fft.irfft(np.abs(np.fft.rfft(window, n=2 * n_fft)) ** 2)
    lags = tf.clip_by_value(tf.cast(tf.round(sr / f0), tf.int32), low, high)[:, None] + np.arange(-2, 3)
    drops = tf.linalg.matmul(power, transform)  # (t, longest + 1)
    bins = np.arange(n_fft + 1)
    weight = (np.where((bins == 0) | (bins == n_fft), 1.0, 2.0) / (2 * n_fft)).astype(np.float32)
    acf0 = tf.reduce_sum(power * weight, axis=1, keepdims=True)
    acf = acf0 - tf.gather(drops, lags, axis=1, batch_dims=1)  # (t, 5)
    normalised = acf / tf.maximum(acf0, 1e-20) / tf.gather((window_acf / window_acf[0]).astype(np.float32), lags)
    peak = tf.clip_by_value(tf.reduce_max(normalised, axis=1), 1e-4, 1.0 - 1e-4)
    hnr = 10.0 * tf.math.log(peak / (1.0 - peak)) / np.log(10.0)

    floor = 1e-12

    def band(low_hz, high_hz):  # the bins of [low_hz, high_hz): a run, sliced (a boolean mask is a gather)
        bins = np.flatnonzero((freqs >= low_hz) & (freqs < high_hz))
        return power[:, bins[0] : bins[-1] + 1]

    alpha_ratio = _db_ratio(tf.reduce_sum(band(50, 1000), axis=1), floor) - _db_ratio(
        tf.reduce_sum(band(1000, 5000), axis=1), floor
    )
    hammarberg = _db_ratio(tf.reduce_max(band(0, 2000), axis=1), floor) - _db_ratio(
        tf.reduce_max(band(2000, 5000), axis=1), floor
    )

    # the autocorrelation of the pre-emphasised frame (the NumPy path's irfft of the emphasised power), summed
    # in time: ten times closer to float64 than the spectral route, which LPC's conditioning needs
    order = 2 + sr // 1000
    lpc_acf = lag_products_graph(pre_emphasised_graph(frames, window), order=order)
    formants, found = lpc_formants_graph(lpc_acf, order=order, sr=sr)  # (t, 3) each
    rows = tf.concat([hnr[:, None], tf.math.log(formants), alpha_ratio[:, None], hammarberg[:, None]], axis=1)
    always = tf.zeros_like(found[:, :1])  # HNR, alpha ratio and Hammarberg index are never missing
    return fill_missing_graph(rows, tf.concat([always, ~found, always, always], axis=1))


def pre_emphasised_graph(frames, window: np.ndarray):
    """Windowed frames ``(t, n)`` pre-emphasised, ``e[m] = x[m] - PRE_EMPHASIS x[m - 1]`` with ``x = window * frames``
    and zeros beyond either end: ``(t, n + 1)``.

    Written as ``w[m] (f[m] - f[m - 1]) + (w[m] - PRE_EMPHASIS w[m - 1]) f[m - 1]``: neighbouring samples of
    voiced speech are close, so their difference is nearly exact in float32, where ``x[m] - 0.97 x[m - 1]``
    subtracts two rounded products of ten or more times the result's size.
    """
    import tensorflow as tf

    padded = tf.pad(frames, [[0, 0], [1, 1]])  # f[-1] = f[n] = 0
    current, previous = padded[:, 1:], padded[:, :-1]
    w = np.concatenate([[0.0], np.asarray(window, dtype=np.float64), [0.0]])
    w_current, w_change = w[1:].astype(np.float32), (w[1:] - PRE_EMPHASIS * w[:-1]).astype(np.float32)
    return w_current * (current - previous) + w_change * previous


def lag_products_graph(x, *, order: int):
    """``r[:, k] = sum_m x[:, m] x[:, m + k]`` for lags ``k = 0..order`` of ``x`` ``(t, n)``: ``(t, order + 1)``.

    One product and one `_blocked_sum` per lag.
    """
    import tensorflow as tf

    n = int(x.shape[-1])
    return tf.stack([_blocked_sum(x[:, : n - k] * x[:, k:]) for k in range(order + 1)], 1)


#: `_blocked_sum` adds this many terms at a time, then the block sums.
SUM_BLOCK = 32


def _blocked_sum(x):
    """``reduce_sum`` over the last axis of ``(t, n)`` in blocks of `SUM_BLOCK`, then over the blocks.

    LiteRT's kernels add a row's terms one after another, so a float32 sum of ``n`` terms is off by up to
    about ``n`` roundings; in blocks it is off by about ``SUM_BLOCK + n / SUM_BLOCK``.
    """
    import tensorflow as tf

    n = int(x.shape[-1])
    blocks = -(-n // SUM_BLOCK)
    padded = tf.pad(x, [[0, 0], [0, blocks * SUM_BLOCK - n]])
    return tf.reduce_sum(tf.reduce_sum(tf.reshape(padded, [-1, blocks, SUM_BLOCK]), axis=2), axis=1)


def _db_ratio(x, floor):
    import tensorflow as tf

    return 10.0 * tf.math.log(x + floor) / np.log(10.0)


#: Stands for "no such formant" (Hz) in the graph form.  Not inf or NaN: a delegate's kernels need not keep
#: those through a select, a minimum or a sort (XNNPACK on AVX2 turned the inf of a missing F3 into a number).
NO_FORMANT = 1e6
#: Sorts a missing value after every real one in `fill_missing_graph` (a log frequency or a level in dB is far below).
MISSING_LAST = 1e9


def lpc_formants_graph(autocorrelation, *, order: int, sr: int, n_formants: int = 3):
    """`lpc_formants` in float32 TensorFlow ops, with finite values only.

    Parameters
    ----------
    autocorrelation : tf.Tensor [shape=(t, order + 1)]
    order, sr, n_formants : int

    Returns
    -------
    formants : tf.Tensor [shape=(t, n_formants)]
        In Hz, ascending; 1 where ``found`` is false (the NumPy path's NaN).
    found : tf.Tensor [shape=(t, n_formants), dtype=bool]
    """
    import tensorflow as tf

    r = autocorrelation
    reversed_r = tf.reverse(r, axis=[1])  # column j holds lag order - j
    a = tf.zeros_like(r) + np.eye(1, order + 1, dtype=np.float32)  # a[:, 0] = 1
    error = r[:, 0] * (1.0 + LPC_RIDGE)
    for i in range(1, order + 1):  # Levinson-Durbin, as `levinson`: each step a few whole-row operations
        k = -tf.reduce_sum(a[:, :i] * reversed_r[:, order - i : order], axis=1) / error
        a = a + k[:, None] * tf.pad(tf.reverse(a[:, :i], axis=[1]), [[0, 0], [1, order - i]])
        error = error * (1.0 - k * k)
    cos, sin = (m.astype(np.float32) for m in envelope_basis(order=order, sr=sr))
    real, imaginary = tf.linalg.matmul(a, cos), tf.linalg.matmul(a, sin)
    inverse_power = tf.maximum(tf.math.square(real) + tf.math.square(imaginary), 1e-30)
    is_peak, shift = peak_shifts(inverse_power, _TensorMath)
    frequency = tf.where(is_peak, formant_grid()[1:-1].astype(np.float32) + FORMANT_STEP * shift, NO_FORMANT)
    lowest = -tf.math.top_k(-frequency, n_formants).values  # ascending
    found = (r[:, 0] > 1e-10)[:, None] & (lowest < NO_FORMANT / 2)
    return tf.where(found, lowest, 1.0), found


class _TensorMath:
    """The three functions `peak_shifts` needs, in TensorFlow ops."""

    @staticmethod
    def log(x):
        import tensorflow as tf

        return tf.math.log(x)

    @staticmethod
    def minimum(x, y):
        import tensorflow as tf

        return tf.minimum(x, y)

    @staticmethod
    def clip(x, low, high):
        import tensorflow as tf

        return tf.clip_by_value(x, low, high)


def fill_missing_graph(rows, missing):
    """Each column's missing values replaced by the median of its other values (0 where it has none): ``(t, d)``.

    One sort for every column, the missing values last (as `MISSING_LAST`), and the median read at
    each column's count.  ``missing`` ``(t, d)`` bool marks them (`_fill_missing`'s NaNs).
    """
    import tensorflow as tf

    count = tf.reduce_sum(tf.cast(~missing, tf.int32), axis=0)  # (d,)
    ordered = -tf.math.top_k(-tf.transpose(tf.where(missing, MISSING_LAST, rows)), tf.shape(rows)[0]).values  # (d, t)
    position = 0.5 * tf.cast(tf.maximum(count - 1, 0), tf.float32)
    below = tf.cast(tf.math.floor(position), tf.int32)
    above = tf.minimum(below + 1, tf.maximum(count - 1, 0))
    low = tf.gather(ordered, below[:, None], axis=1, batch_dims=1)[:, 0]
    high = tf.gather(ordered, above[:, None], axis=1, batch_dims=1)[:, 0]
    median = tf.where(count > 0, low + (high - low) * (position - tf.cast(below, tf.float32)), 0.0)
    return tf.where(missing, median, rows)
