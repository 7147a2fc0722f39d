"""The ``voice`` block of the functionals: harmonicity, formants and spectral balance of voiced frames.

After eGeMAPS (Eyben et al. 2016): per analysis frame, the harmonics-to-noise ratio,
the first three formants (LPC) and the alpha ratio and Hammarberg index of the spectrum
(`VOICE_ROWS`), from one zero-padded FFT per frame (`voice_descriptors`).  They have no
librosa counterpart; their tests check them on a synthetic vowel of known formants and
on tones of known level ratio.
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
#: A tiny ridge on the zero lag keeps near-silent frames well posed (white-noise correction).
LPC_RIDGE = 1e-3


def formant_grid() -> np.ndarray:
    """Frequencies (Hz) at which the LPC envelope is evaluated: ``(n_grid,)``."""
    low, high = FORMANT_RANGE
    return np.arange(low, high + FORMANT_STEP / 2, FORMANT_STEP)


def envelope_basis(*, order: int, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """``cos``, ``sin`` of ``2 pi f k / sr``, lags ``k = 0..order``, the `formant_grid`: ``(order + 1, n_grid)`` each.

    ``A(f) = sum_k a_k e^{-2 pi i f k / sr}``, so ``|A(f)|^2 = (a @ cos)^2 + (a @ sin)^2``.
    """
    angle = 2.0 * np.pi * np.outer(np.arange(order + 1), formant_grid()) / sr
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
    not below its right one, refined by a parabola through the three log values.  The
    same arithmetic runs in the graph form (`ser_keras.features.utterance_graph`), in
    float32 there and float64 here.

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
    log_envelope = -np.log(np.maximum(np.square(a @ cos) + np.square(a @ sin), 1e-30))
    left, centre, right = log_envelope[:, :-2], log_envelope[:, 1:-1], log_envelope[:, 2:]
    is_peak = (centre > left) & (centre >= right)
    curvature = left - 2.0 * centre + right
    shift = np.clip(np.where(is_peak, 0.5 * (left - right) / np.where(is_peak, curvature, 1.0), 0.0), -0.5, 0.5)
    frequency = np.where(is_peak, formant_grid()[1:-1] + FORMANT_STEP * shift, np.inf)
    frequency = np.sort(frequency, axis=1)[:, :n_formants]
    formants[frames] = np.where(np.isfinite(frequency), frequency, np.nan)
    return formants


def _fill_missing(rows: np.ndarray) -> np.ndarray:
    """Each row's NaNs replaced by the median of its other values (by 0 where it has none)."""
    missing = np.isnan(rows)
    if not missing.any():
        return rows
    counts = (~missing).sum(axis=1, keepdims=True)
    median = np.nanmedian(np.where(counts > 0, rows, 0.0), axis=1, keepdims=True)
    return np.where(missing, median, rows)
