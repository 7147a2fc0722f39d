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
#: A formant is an LPC pole pair in this frequency range (Hz) with at most this bandwidth (Hz).
FORMANT_RANGE = (90.0, 5000.0)
FORMANT_MAX_BANDWIDTH = 400.0


def voice_descriptors(y: np.ndarray, f0: np.ndarray, frames: np.ndarray, *, config) -> np.ndarray:
    """Voice descriptors (`VOICE_ROWS`) of the chosen analysis frames, from one zero-padded FFT per frame.

    Each Hann-windowed frame (the analysis frames of `low_level_descriptors`) is
    transformed once at ``2 n_fft`` points; its power spectrum gives

    - the harmonics-to-noise ratio ``10 log10(r / (1 - r))`` in dB, where ``r`` is the
      frame's autocorrelation at the pitch period ``sr / f0`` (best of +-2 lags),
      divided by the window's own autocorrelation (Boersma 1993);
    - the log frequencies (Hz) of the first three formants: the LPC poles (order
      ``2 + sr // 1000``, autocorrelation method, `PRE_EMPHASIS` applied to the
      spectrum) in `FORMANT_RANGE` with a bandwidth under `FORMANT_MAX_BANDWIDTH`;
      where a frame has fewer, the row's median over the other frames (0 if none);
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


def lpc_formants(autocorrelation: np.ndarray, *, order: int, sr: int, n_formants: int = 3) -> np.ndarray:
    """The lowest formant frequencies of each frame from its autocorrelation (LPC, autocorrelation method).

    Parameters
    ----------
    autocorrelation : np.ndarray [shape=(n_frames, >= order + 1)]
    order : int
    sr : int
    n_formants : int

    Returns
    -------
    formants : np.ndarray [shape=(n_frames, n_formants)]
        In Hz, ascending; NaN where a frame has fewer qualifying poles (or no energy).
    """
    import scipy.linalg

    formants = np.full((autocorrelation.shape[0], n_formants), np.nan)
    frames = np.flatnonzero(autocorrelation[:, 0] > 1e-10)
    if frames.size == 0:
        return formants
    coefficients = np.empty((frames.size, order))
    for i, t in enumerate(frames):  # Levinson-Durbin; a tiny ridge keeps silent-ish frames well posed
        r = autocorrelation[t, : order + 1].copy()
        r[0] *= 1.0 + 1e-9
        coefficients[i] = scipy.linalg.solve_toeplitz(r[:-1], -r[1:])
    companion = np.zeros((frames.size, order, order))
    companion[:, 0, :] = -coefficients
    companion[:, np.arange(1, order), np.arange(order - 1)] = 1.0
    poles = np.linalg.eigvals(companion)
    frequency = np.angle(poles) * sr / (2 * np.pi)
    bandwidth = -np.log(np.maximum(np.abs(poles), 1e-12)) * sr / np.pi
    low, high = FORMANT_RANGE
    keep = (poles.imag > 0) & (frequency > low) & (frequency < min(high, sr / 2)) & (bandwidth < FORMANT_MAX_BANDWIDTH)
    frequency = np.sort(np.where(keep, frequency, np.inf), axis=1)[:, :n_formants]
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
