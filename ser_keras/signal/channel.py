"""Recording conditions as pure functions of a waveform: noise, a room, a telephone line, a lossy codec,
a level change, a microphone's tilt.

Each function takes a mono float waveform and returns one of the same length and dtype float32; the
random ones take an explicit ``rng``. `ser_keras.signal.shifts` names fixed settings of them for the
robustness benchmark (``ser-keras evaluate --shift``), and `ser_keras.signal.augment` draws their settings for
the channel augmentations (``--augment reverb,telephone,codec,tilt,pink``).
"""

from __future__ import annotations

import io

import numpy as np

from ..errors import ParameterError

#: The codecs of `codec_round_trip`: libsndfile's (format, subtype) and the rates it encodes at.
CODECS = {
    "mp3": ("MP3", "MPEG_LAYER_III", (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)),
    "opus": ("OGG", "OPUS", (8000, 12000, 16000, 24000, 48000)),
}


def _power(y: np.ndarray) -> float:
    return float(np.mean(np.square(y, dtype=np.float64)))


def colored_noise(n: int, *, rng: np.random.Generator, color: str = "white") -> np.ndarray:
    """Gaussian noise of unit power with a flat (``white``) or 1/f (``pink``) power spectrum.

    Parameters
    ----------
    n : int
        Number of samples.
    rng : np.random.Generator
    color : {'white', 'pink'}

    Returns
    -------
    noise : np.ndarray [shape=(n,), dtype=float64]
    """
    white = rng.standard_normal(n)
    if color == "white":
        return white
    if color != "pink":
        raise ParameterError(f"noise colour is white or pink, got {color!r}")
    spectrum = np.fft.rfft(white)
    frequency = np.arange(spectrum.size, dtype=np.float64)
    frequency[0] = 1.0  # no infinite gain at DC
    pink = np.fft.irfft(spectrum / np.sqrt(frequency), n=n)
    return pink / np.sqrt(max(np.mean(pink**2), 1e-20))


def add_noise_at_snr(y: np.ndarray, *, rng: np.random.Generator, snr_db: float, color: str = "white") -> np.ndarray:
    """Add `colored_noise` at ``snr_db`` relative to the signal's mean power.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    rng : np.random.Generator
    snr_db : float
    color : {'white', 'pink'}

    Returns
    -------
    y_noisy : np.ndarray [shape=(n,), dtype=float32]
    """
    noise = colored_noise(y.shape[0], rng=rng, color=color)
    return (y + noise * np.sqrt(_power(y) / 10.0 ** (snr_db / 10.0))).astype(np.float32)


def room_impulse_response(*, sr: int, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room impulse response: the direct sound, then Gaussian noise decaying by 60 dB in ``rt60``.

    The tail starts 2.5 ms after the direct sound and holds as much energy as it, which is
    what a talker at a few metres in an ordinary room gives (direct-to-reverberant ratio 0 dB).

    Parameters
    ----------
    sr : int
    rt60 : float > 0
        Reverberation time in seconds.
    rng : np.random.Generator

    Returns
    -------
    rir : np.ndarray [shape=(round(rt60 * sr),), dtype=float64]
        ``rir[0] == 1``.
    """
    if rt60 <= 0:
        raise ParameterError(f"rt60 must be > 0 s, got {rt60}")
    n = max(int(round(rt60 * sr)), 2)
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.907755 * t / rt60)  # ln(1000): amplitude down 60 dB at rt60
    tail[: max(int(0.0025 * sr), 1)] = 0.0
    tail *= 1.0 / np.sqrt(max(np.sum(tail**2), 1e-20))
    tail[0] = 1.0
    return tail


def reverberate(y: np.ndarray, *, sr: int, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a `room_impulse_response`, keep the input's length and mean power.

    Returns
    -------
    y_reverberant : np.ndarray [shape=(n,), dtype=float32]
    """
    from scipy.signal import fftconvolve

    wet = fftconvolve(y.astype(np.float64), room_impulse_response(sr=sr, rt60=rt60, rng=rng))[: y.shape[0]]
    return (wet * np.sqrt(_power(y) / max(_power(wet), 1e-20))).astype(np.float32)


def telephone(y: np.ndarray, *, sr: int) -> np.ndarray:
    """A narrow-band telephone line: 8 kHz, a 300–3400 Hz band (4th-order Butterworth), G.711 µ-law, back to ``sr``.

    Returns
    -------
    y_phone : np.ndarray [shape=(n,), dtype=float32]
    """
    import soxr
    from scipy.signal import butter, sosfilt

    narrow = soxr.resample(y.astype(np.float32), sr, 8000, quality="soxr_hq").astype(np.float64)
    narrow = sosfilt(butter(4, (300.0, 3400.0), btype="bandpass", fs=8000, output="sos"), narrow)
    mu = 255.0  # G.711 µ-law: compress, quantise to 8 bits, expand
    peak = max(float(np.max(np.abs(narrow))), 1.0)
    compressed = np.sign(narrow) * np.log1p(mu * np.abs(narrow / peak)) / np.log1p(mu)
    quantised = np.round(compressed * 127.0) / 127.0
    narrow = np.sign(quantised) * np.expm1(np.abs(quantised) * np.log1p(mu)) / mu * peak
    back = soxr.resample(narrow.astype(np.float32), 8000, sr, quality="soxr_hq")
    return _same_length(back, y.shape[0])


def codec_round_trip(y: np.ndarray, *, sr: int, codec: str, compression: float) -> np.ndarray:
    """Encode with a lossy codec (libsndfile, through soundfile) and decode, time-aligned to the input.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    sr : int
        A rate the codec does not take is resampled to 16 kHz for the trip (soxr).
    codec : {'mp3', 'opus'}
    compression : float in [0, 0.95]
        libsndfile's compression level: 0 is its highest bitrate, 0.95 about 16 kbps (MP3,
        constant bitrate) or 20 kbps (Opus) for 16 kHz speech.

    Returns
    -------
    y_decoded : np.ndarray [shape=(n,), dtype=float32]
        The decoder's delay (MP3's frame padding) removed by the lag of the peak cross-correlation.
    """
    import soundfile as sf
    import soxr

    if codec not in CODECS:
        raise ParameterError(f"codec is {' or '.join(CODECS)}, got {codec!r}")
    if not 0.0 <= compression <= 0.95:
        raise ParameterError(f"codec compression is in [0, 0.95], got {compression}")
    file_format, subtype, rates = CODECS[codec]
    rate = sr if sr in rates else 16000
    x = y.astype(np.float32) if rate == sr else soxr.resample(y.astype(np.float32), sr, rate, quality="soxr_hq")
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    scale = 0.99 / peak if peak > 0.99 else 1.0  # the codecs clip at full scale
    extra = {"bitrate_mode": "CONSTANT"} if codec == "mp3" else {}
    buffer = io.BytesIO()
    sf.write(buffer, x * scale, rate, format=file_format, subtype=subtype, compression_level=compression, **extra)
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="float32", always_2d=False)
    decoded = decoded / scale
    lag = _lag(x, decoded, max_lag=4096)
    decoded = decoded[lag:] if lag >= 0 else np.concatenate([np.zeros(-lag, np.float32), decoded])
    decoded = _same_length(decoded, x.shape[0])
    if rate != sr:
        decoded = soxr.resample(decoded, rate, sr, quality="soxr_hq")
    return _same_length(decoded, y.shape[0])


def change_gain(y: np.ndarray, *, db: float, clip: bool = True) -> np.ndarray:
    """Scale by ``db`` decibels; with ``clip``, limit to [-1, 1] as a recorder's converter does.

    Returns
    -------
    y_scaled : np.ndarray [shape=(n,), dtype=float32]
    """
    scaled = y.astype(np.float64) * 10.0 ** (db / 20.0)
    return (np.clip(scaled, -1.0, 1.0) if clip else scaled).astype(np.float32)


def spectral_tilt(y: np.ndarray, *, sr: int, db_per_octave: float, pivot_hz: float = 1000.0) -> np.ndarray:
    """A microphone-like tilt: gain ``db_per_octave * log2(f / pivot_hz)`` (flat below 50 Hz), mean power kept.

    Returns
    -------
    y_tilted : np.ndarray [shape=(n,), dtype=float32]
    """
    spectrum = np.fft.rfft(y.astype(np.float64))
    frequency = np.maximum(np.fft.rfftfreq(y.shape[0], d=1.0 / sr), 50.0)
    gain = 10.0 ** (db_per_octave * np.log2(frequency / pivot_hz) / 20.0)
    tilted = np.fft.irfft(spectrum * gain, n=y.shape[0])
    return (tilted * np.sqrt(_power(y) / max(_power(tilted), 1e-20))).astype(np.float32)


def _lag(reference: np.ndarray, delayed: np.ndarray, *, max_lag: int) -> int:
    """The delay of ``delayed`` against ``reference`` in samples (within ``±max_lag``), by cross-correlation."""
    from scipy.signal import correlate

    n = min(reference.shape[0], delayed.shape[0])
    if n == 0:
        return 0
    c = correlate(delayed[: n + max_lag], reference[:n], mode="full", method="fft")
    lags = np.arange(-n + 1, c.shape[0] - n + 1)
    window = np.abs(lags) <= max_lag
    return int(lags[window][np.argmax(c[window])])


def _same_length(y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    return y[:n] if y.shape[0] >= n else np.concatenate([y, np.zeros(n - y.shape[0], np.float32)])
