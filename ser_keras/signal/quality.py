"""Input checks: is a clip like the speech a model was trained on?

A model answers whatever it is given. `input_warnings` says, per clip, when the answer
deserves less trust because the recording is unlike clean studio speech: a telephone or
8 kHz band, clipping, a very low level, strong noise, too little speech, or none, or a recording
longer than any acted utterance, whose one answer mixes its parts. The
checks are cheap measurements of the waveform (`measure`) against fixed thresholds
chosen on clean RAVDESS speech and on the robustness benchmark's shifts
(`ser_keras.signal.shifts`); docs/results.md gives how often each fires on both.

NumPy only: a process that predicts never imports scipy or librosa for them.
"""

from __future__ import annotations

import numpy as np

#: Frames of the checks: 32 ms with a 16 ms hop at 16 kHz (scaled with the rate).
FRAME_SECONDS = 0.032
HOP_SECONDS = 0.016
#: The band edge above which telephone and 8 kHz audio carry (almost) nothing.
HIGH_BAND_HZ = 4000.0
#: Band-limited: the speech frames' power above `HIGH_BAND_HZ` is this far below their total (dB).
MIN_HIGH_BAND_DB = -40.0
#: Clipped: more than this fraction of samples lie within 2 % of a peak at (near) full scale.
MAX_CLIPPED_FRACTION = 1e-4
CLIP_PEAK = 0.9
#: Very quiet: the loudest frames (95th percentile of frame RMS) are below this level (dBFS).
MIN_SPEECH_DBFS = -48.0
#: Noisy: the loudest frames are less than this far above the quietest (10th percentile), in dB.
MIN_SNR_DB = 20.0
#: Frames within this many dB of the loudest count as sound (as the features' 40 dB trim).
SOUND_DB = 40.0
#: A frame is voiced when its normalised autocorrelation peaks above this at a lag of 60-500 Hz.
VOICING_THRESHOLD = 0.5
#: No speech: fewer voiced seconds than this.
MIN_VOICED_SECONDS = 0.1
#: Long: more audio than this (s). The corpora's acted utterances last 1-9 s; one answer for a longer
#: recording averages parts that may differ, so it is scored by speech segments instead
#: (`ser_keras.serving.timeline`) wherever the user does not ask for one answer.
LONG_SECONDS = 10.0


def _frames(y: np.ndarray, *, sr: int) -> tuple[np.ndarray, int]:
    """Frames ``(n_frames, frame_length)`` (zero-padded to one frame at least) and the frame length."""
    length = max(16, int(round(FRAME_SECONDS * sr)))
    hop = max(1, int(round(HOP_SECONDS * sr)))
    if len(y) < length:
        y = np.pad(y, (0, length - len(y)))
    return np.lib.stride_tricks.sliding_window_view(y, length)[::hop], hop


def measure(y: np.ndarray, *, sr: int) -> dict:
    """The quantities the input checks compare with their thresholds.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        A mono waveform, float in ``[-1, 1]``, at least one sample not zero.
    sr : int > 0

    Returns
    -------
    figures : dict
        ``high_band_db`` (power of the sound frames above `HIGH_BAND_HZ` over their total,
        dB; -inf when ``sr`` cannot hold that band), ``clipped_fraction``, ``speech_dbfs``
        (95th percentile of frame RMS), ``snr_db`` (95th over 10th percentile of frame
        power), ``sound_seconds`` (from the first to the last frame within `SOUND_DB` of
        the loudest) and ``voiced_seconds``.
    """
    y = np.asarray(y, dtype=np.float64)
    frames, hop = _frames(y, sr=sr)
    length = frames.shape[1]
    power = np.mean(frames**2, axis=1)
    level_db = 10.0 * np.log10(np.maximum(power, 1e-20))
    sound = level_db >= level_db.max() - SOUND_DB
    where = np.flatnonzero(sound)
    sounding = frames[sound]  # one copy of the sound frames, for the spectrum and the voicing
    sound_seconds = ((where[-1] - where[0]) * hop + length) / sr if len(where) else 0.0

    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)
    spectrum = np.abs(np.fft.rfft(sounding * window, axis=1)) ** 2
    frequencies = np.fft.rfftfreq(length, 1.0 / sr)
    total = spectrum[:, 1:].sum()
    high = spectrum[:, frequencies > HIGH_BAND_HZ].sum() if sr > 2 * HIGH_BAND_HZ * 1.05 else 0.0
    high_band_db = 10.0 * np.log10(high / total) if high > 0 and total > 0 else -np.inf

    peak = float(np.abs(y).max())
    clipped = float(np.mean(np.abs(y) >= 0.98 * peak)) if peak >= CLIP_PEAK else 0.0

    # voicing: the normalised autocorrelation of each sound frame at the lags of 60-500 Hz
    low_lag, high_lag = int(sr / 500), min(int(sr / 60), length - 1)
    voiced = 0
    if high_lag > low_lag and len(where):
        centred = sounding - sounding.mean(axis=1, keepdims=True)
        n = 1 << int(np.ceil(np.log2(2 * length)))
        auto = np.fft.irfft(np.abs(np.fft.rfft(centred, n=n, axis=1)) ** 2, n=n, axis=1)[:, : high_lag + 1]
        energy = np.maximum(auto[:, :1], 1e-20)
        # normalised for the overlap shrinking with the lag, as YIN-like pitch trackers do
        overlap = (length - np.arange(high_lag + 1)) / length
        voiced = int(np.sum((auto[:, low_lag:] / energy / overlap[low_lag:]).max(axis=1) > VOICING_THRESHOLD))
    return {
        "high_band_db": float(high_band_db),
        "clipped_fraction": clipped,
        "speech_dbfs": float(np.percentile(level_db, 95) + 3.0103),  # RMS of a full-scale sine is 0 dBFS
        "snr_db": float(np.percentile(level_db, 95) - np.percentile(level_db, 10)),
        "sound_seconds": float(sound_seconds),
        "voiced_seconds": voiced * hop / sr,
    }


def input_warnings(y: np.ndarray, *, sr: int, shortest_speech: float | None = None) -> list[str]:
    """Why a clip is unlike the speech a model was trained on: one short phrase per problem found.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        A mono waveform, float in ``[-1, 1]``, not silent.
    sr : int > 0
        Its sample rate (the model's, after resampling: an 8 kHz file shows as band-limited).
    shortest_speech : float, optional
        The shortest sound (s) among the model's training clips (``run.json`` ``input_range``);
        a clip with less is flagged.

    Returns
    -------
    warnings : list of str
        Empty for a clip like clean studio speech.

    Examples
    --------
    A steady 220 Hz hum is voiced, but it has no high band and no pauses:

    >>> sr = 16000
    >>> hum = 0.3 * np.sin(2 * np.pi * 220 * np.arange(sr) / sr)
    >>> for problem in input_warnings(hum, sr=sr):
    ...     print(problem)
    band-limited: nothing above 4 kHz (telephone or 8 kHz audio?)
    noisy: loudest parts only 0 dB above the quietest
    >>> input_warnings(np.clip(8 * hum, -1, 1), sr=sr)[-1]
    'clipped: 73.2 % of samples at the peak'
    >>> input_warnings(0.1 * np.random.default_rng(0).standard_normal(sr), sr=sr)
    ['no speech found: no voiced sound']
    """
    figures = measure(y, sr=sr)
    found = []
    if figures["voiced_seconds"] < MIN_VOICED_SECONDS:
        found.append("no speech found: no voiced sound")
    if figures["high_band_db"] < MIN_HIGH_BAND_DB:
        found.append(
            f"band-limited: nothing above {HIGH_BAND_HZ / 1000:g} kHz (telephone or 8 kHz audio?)"
            if figures["high_band_db"] < -90
            else f"band-limited: {figures['high_band_db']:.0f} dB above {HIGH_BAND_HZ / 1000:g} kHz "
            "(telephone or 8 kHz audio?)"
        )
    if figures["speech_dbfs"] < MIN_SPEECH_DBFS:
        found.append(f"very quiet: speech at {figures['speech_dbfs']:.0f} dBFS")
    elif figures["snr_db"] < MIN_SNR_DB and figures["voiced_seconds"] >= MIN_VOICED_SECONDS:
        found.append(f"noisy: loudest parts only {figures['snr_db']:.0f} dB above the quietest")
    if shortest_speech is not None and figures["sound_seconds"] < shortest_speech:
        found.append(
            f"short: {figures['sound_seconds']:.2f} s of sound, less than any training clip ({shortest_speech:.2f} s)"
        )
    if figures["clipped_fraction"] > MAX_CLIPPED_FRACTION:
        found.append(f"clipped: {100 * figures['clipped_fraction']:.3g} % of samples at the peak")
    if len(y) > LONG_SECONDS * sr:
        found.append(f"long: over {LONG_SECONDS:g} s, so one answer mixes its parts (score it by segments)")
    return found
