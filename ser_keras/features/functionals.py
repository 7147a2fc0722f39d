"""Utterance functionals: statistics of low-level descriptors over the whole, silence-trimmed utterance.

The ``functionals`` feature kind.  Each utterance is trimmed (``librosa.effects.trim``
at ``config.trim_db``), analysed with one STFT, and every frame-level descriptor
(LLD) is summarised by `STATISTICS` over time:

====================  ======================================================  ==========
block                 descriptor                                              rows
====================  ======================================================  ==========
``logmel``            ``power_to_db(melspectrogram)`` (no floor)              ``n_mels``
``mfcc``              ``mfcc`` (``top_db`` floor) and its deltas / delta-deltas  ``3 n_mfcc``
``contrast``          ``spectral_contrast`` (`contrast.CONTRAST_FLOOR`)        ``N_CONTRAST_BANDS + 1``
``spectral``          log centroid, log bandwidth, log rolloff, log flatness  4
``energy``            ZCR, log-RMS (dB), its delta, spectral flux             4
====================  ======================================================  ==========

plus the MFCCs of voiced frames only (``n_mfcc`` rows), the pitch track
(``librosa.yin`` in semitones re 100 Hz over voiced frames) and its frame-to-frame
change, and two scalars: the trimmed duration (s) and the voiced fraction.  The
``voice`` block (`ser_keras.features.voice`, after eGeMAPS, Eyben et al. 2016) adds, over
voiced frames: the harmonics-to-noise ratio, the first three formants (LPC) and the
alpha ratio and Hammarberg index of the spectrum (`VOICE_ROWS`).  Then
three blocks that keep more than one number per descriptor:

====================  ======================================================  ====================
``contour``           mean log-mel, MFCC, log-RMS and voiced pitch in each of  ``SEGMENTS (n_mels
                      `SEGMENTS` equal parts of the utterance (its shape)      + n_mfcc + 2)``
``voiced_logmel``     mean and std of the log-mel of voiced frames             ``2 n_mels``
``logmel_delta``      std and mean absolute value of the log-mel's delta       ``2 n_mels``
====================  ======================================================  ====================

Speaker cross-validation chose them (docs/results.md): on RAVDESS they add about 1.5 points of
UA with global normalisation, and the ``voice`` block about 2 more.  A frame is
voiced when its RMS is within `pitch.VOICED_DB` of the loudest frame and its ZCR is below
`pitch.VOICED_MAX_ZCR` (YIN itself gives no voicing decision).

Every descriptor of the first table equals librosa's call on the same trimmed signal
(`reference_lld`); the ``voice`` block has no librosa counterpart, and its tests check it
on a synthetic vowel of known formants and on tones of known level ratio;
the STFT, mel, DCT and RMS are the project's batched float32 ones (`ser_keras.features.registry`).
The graph form (`ser_keras.features.utterance_graph`) computes the same vector in TensorFlow ops,
so exported models take audio; YIN runs in float64 here and spectral contrast sees magnitudes
floored at `contrast.CONTRAST_FLOOR`, which keeps the two within 1e-4 of each column's range (tested).
"""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError
from .contrast import N_CONTRAST_BANDS, contrast_input, spectral_contrast
from .level import add_floor, normalize_level, remove_dc
from .pitch import voiced_frames, yin
from .summaries import SEGMENTS, STATISTICS, contour, summarize
from .voice import VOICE_ROWS, voice_descriptors

#: Less sound than this after trimming is refused.
MIN_SOUND_SECONDS = 0.1
_SPECTRAL = ("log_centroid", "log_bandwidth", "log_rolloff", "log_flatness")
_ENERGY = ("zcr", "log_rms", "log_rms_delta", "flux")


def descriptor_names(config) -> list[str]:
    """Row names of the frame-level descriptors that are summarised (before voiced MFCC and pitch)."""
    return (
        [f"logmel_{i}" for i in range(config.n_mels)]
        + [f"mfcc_{i}" for i in range(config.n_mfcc)]
        + [f"mfcc_delta_{i}" for i in range(config.n_mfcc)]
        + [f"mfcc_delta2_{i}" for i in range(config.n_mfcc)]
        + [f"contrast_{i}" for i in range(N_CONTRAST_BANDS + 1)]
        + list(_SPECTRAL)
        + list(_ENERGY)
    )


#: Descriptor families of the columns (`column_groups`), matched as name prefixes, most specific first.
FAMILIES = (
    "voiced_logmel",
    "voiced_mfcc",
    "logmel_delta",
    "logmel",
    "mfcc_delta2",
    "mfcc_delta",
    "mfcc",
    "contrast",
    "f0",
    "voice",
)


def column_groups(config) -> list[str]:
    """The descriptor family of each column, in `feature_names` order.

    One of `FAMILIES`, ``contour`` (the ``seg*`` columns) or ``spectral_energy`` (the
    spectral and energy descriptors, duration and voiced fraction).  The log-mel block
    alone is a quarter of the columns; linear models give each family the same weight
    (`ser_keras.training.fit_sklearn.group_weights`).
    """
    groups = []
    for name in feature_names(config):
        if name.startswith("seg"):
            groups.append("contour")
        else:
            groups.append(next((family for family in FAMILIES if name.startswith(family + "_")), "spectral_energy"))
    return groups


def feature_names(config) -> list[str]:
    """Column names of the functionals vector: ``<descriptor>_<statistic>``, then the contour and log-mel blocks."""
    rows = (
        descriptor_names(config)
        + [f"voiced_mfcc_{i}" for i in range(config.n_mfcc)]
        + ["f0_semitones", "f0_delta"]
        + list(VOICE_ROWS)
    )
    segment_rows = (
        [f"logmel_{i}" for i in range(config.n_mels)]
        + [f"mfcc_{i}" for i in range(config.n_mfcc)]
        + ["log_rms", "f0_semitones"]
    )
    return (
        [f"{row}_{stat}" for row in rows for stat in STATISTICS]
        + ["duration", "voiced_fraction"]
        + [f"seg{j + 1}_{row}_mean" for j in range(SEGMENTS) for row in segment_rows]
        + [f"voiced_logmel_{i}_{stat}" for stat in ("mean", "std") for i in range(config.n_mels)]
        + [f"logmel_delta_{i}_{stat}" for stat in ("std", "absmean") for i in range(config.n_mels)]
    )


def n_features(config) -> int:
    """Length of the functionals vector (2606 at the defaults)."""
    n_rows = (
        config.n_mels + 4 * config.n_mfcc + N_CONTRAST_BANDS + 1 + len(_SPECTRAL) + len(_ENERGY) + 2 + len(VOICE_ROWS)
    )
    n_contour = SEGMENTS * (config.n_mels + config.n_mfcc + 2)
    return n_rows * len(STATISTICS) + 2 + n_contour + 4 * config.n_mels


def delta_width(n_frames: int) -> int:
    """The ``width`` of ``librosa.feature.delta``: librosa's default 9, or the largest odd number <= ``n_frames``."""
    return min(9, n_frames - (1 - n_frames % 2))


def _delta_summary(log_mel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Std and mean absolute value over time of the log-mel's delta (librosa's, width <= 9): ``(n_mels,)`` each."""
    import librosa

    delta = librosa.feature.delta(log_mel, width=delta_width(log_mel.shape[1]))
    return delta.std(axis=1), np.abs(delta).mean(axis=1)


#: Sound is kept this long (s) before the first and after the last sample that bounds it (`trim`).
TRIM_MARGIN_SECONDS = 0.025


def loudest_frame_rms(y: np.ndarray, *, config) -> float:
    """The RMS of the loudest analysis frame of ``y`` ``(n,)`` (``librosa.feature.rms``, centred frames)."""
    import librosa

    return float(librosa.feature.rms(y=y, frame_length=config.n_fft, hop_length=config.hop_length).max())


def trim(y: np.ndarray, *, config) -> np.ndarray:
    """The clip's sound (no trim when ``config.trim_db`` is None).

    The sound runs from `TRIM_MARGIN_SECONDS` before the first to as long after the last
    sample whose magnitude reaches ``trim_db`` below the clip's peak.  Bounds set by samples
    well above the noise, not by a hop grid: silence before or after a clip, of any length,
    leaves its sound as it was.  The peak and the threshold are exact in float32 (a maximum
    and one product), so every runtime draws the same bounds.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), dtype=float32]
    config : FeatureConfig

    Returns
    -------
    sound : np.ndarray [shape=(m,), dtype=float32]
        A view of ``y``.
    """
    if config.trim_db is None or y.shape[0] == 0:
        return y
    magnitude = np.abs(np.asarray(y, dtype=np.float32))
    strong = np.flatnonzero(magnitude >= magnitude.max() * np.float32(10.0 ** (-config.trim_db / 20.0)))
    if strong.size == 0:
        return y
    margin = int(round(TRIM_MARGIN_SECONDS * config.sr))
    return y[max(strong[0] - margin, 0) : strong[-1] + 1 + margin]


def low_level_descriptors(y: np.ndarray, *, config) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame-level descriptors of one (trimmed) signal, from one shared STFT.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), dtype=float32]
    config : FeatureConfig

    Returns
    -------
    lld : np.ndarray [shape=(len(descriptor_names(config)), n_frames)]
    f0 : np.ndarray [shape=(n_frames,)]
        YIN pitch in Hz.
    voiced : np.ndarray [shape=(n_frames,), dtype=bool]
    """
    import librosa

    from ..signal.spectral import dct_basis, mel_basis, power_spectrum, power_to_db, zero_crossing_rate

    sr, n_fft, hop = config.sr, config.n_fft, config.hop_length
    y = np.ascontiguousarray(y, dtype=np.float32)
    power, frames = power_spectrum(y[None], n_fft=n_fft, hop_length=hop)
    power_t = power[0].T  # (bins, frames), librosa's layout
    magnitude = np.sqrt(power_t)
    mel = mel_basis(sr=sr, n_fft=n_fft, n_mels=config.n_mels) @ power_t
    log_mel = power_to_db(mel[None], top_db=None)[0]
    mfcc = dct_basis(n_mels=config.n_mels, n_mfcc=config.n_mfcc) @ power_to_db(mel[None], top_db=config.top_db)[0]
    width = delta_width(mfcc.shape[1])
    if width < 3:
        raise ParameterError(f"too short for functionals ({y.shape[0] / sr:.3f} s after trimming)")
    delta = librosa.feature.delta(mfcc, width=width)
    delta2 = librosa.feature.delta(mfcc, width=width, order=2)
    spectral = dict(S=magnitude, sr=sr, n_fft=n_fft, hop_length=hop)
    contrast = spectral_contrast(magnitude, config=config)
    centroid = librosa.feature.spectral_centroid(**spectral)
    bandwidth = librosa.feature.spectral_bandwidth(**spectral)
    rolloff = librosa.feature.spectral_rolloff(**spectral)
    flatness = librosa.feature.spectral_flatness(S=magnitude, n_fft=n_fft, hop_length=hop)
    zcr = zero_crossing_rate(y[None], frame_length=n_fft, hop_length=hop)
    rms = np.sqrt(np.einsum("tn,tn->t", frames[0], frames[0], dtype=np.float32) / n_fft)[None]
    log_rms = 20.0 * np.log10(np.maximum(rms, 1e-5))  # amplitude_to_db(rms, top_db=None)
    log_rms_delta = librosa.feature.delta(log_rms, width=width)
    flux = librosa.onset.onset_strength(S=log_mel, sr=sr)[None]
    lld = np.concatenate(
        [
            log_mel,
            mfcc,
            delta,
            delta2,
            contrast,
            np.log1p(centroid),
            np.log1p(bandwidth),
            np.log1p(rolloff),
            np.log(flatness + 1e-10),
            zcr,
            log_rms,
            log_rms_delta,
            flux,
        ]
    )
    f0 = yin(y, config=config)
    voiced = voiced_frames(log_rms[0], zcr[0])
    return lld, f0, voiced


def functionals(y: np.ndarray, *, config) -> np.ndarray:
    """The functionals vector of one utterance.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), dtype=float32]
        At ``config.sr``; trimmed here.
    config : FeatureConfig

    Returns
    -------
    x : np.ndarray [shape=(n_features(config),), dtype=float32]
        Finite; columns named by `feature_names`.

    Raises
    ------
    ParameterError
        Less than about a tenth of a second of sound after trimming.
    """
    return functionals_of(*trimmed_descriptors(y, config=config, what="functionals"), config=config)


def trimmed_descriptors(y: np.ndarray, *, config, what: str):
    """The trimmed signal and its `low_level_descriptors`: what the ``functionals`` and ``lld`` kinds start from.

    The clip loses its DC, is trimmed, brought to one level and given a fixed noise floor
    (`ser_keras.features.level`) before any descriptor.

    Returns
    -------
    y : np.ndarray [shape=(n_trimmed,)]
    lld, f0, voiced : as `low_level_descriptors`

    Raises
    ------
    ParameterError
        Less than about a tenth of a second of sound after trimming (``what`` names the kind).
    """
    y = trim(remove_dc(y), config=config)
    if y.shape[0] < max(config.n_fft, int(MIN_SOUND_SECONDS * config.sr)):
        raise ParameterError(f"too short for {what} ({y.shape[0] / config.sr:.3f} s after trimming silence)")
    y = remove_dc(y)  # the sound's own mean: what was left of the clip's would sit in the lowest bins
    y = add_floor(normalize_level(y, loudest_rms=loudest_frame_rms(y, config=config)))
    return (y, *low_level_descriptors(y, config=config))


def functionals_of(y: np.ndarray, lld: np.ndarray, f0: np.ndarray, voiced: np.ndarray, *, config) -> np.ndarray:
    """The functionals vector from a trimmed signal and its descriptors (`trimmed_descriptors`)."""
    semitones = 12.0 * np.log2(f0 / 100.0)
    voiced_or_all = voiced if voiced.sum() >= 3 else np.ones_like(voiced)  # the frames of the voiced summaries
    f0_voiced = semitones[voiced_or_all]
    log_mel = lld[: config.n_mels]
    mfcc = lld[config.n_mels : config.n_mels + config.n_mfcc]
    log_rms = lld[len(descriptor_names(config)) - len(_ENERGY) + _ENERGY.index("log_rms")]
    parts = [
        summarize(lld),
        summarize(mfcc[:, voiced_or_all]),
        summarize(f0_voiced[None]),
        summarize(np.diff(f0_voiced)[None]),
        summarize(voice_descriptors(y, f0, voiced_or_all, config=config)),
    ]
    voiced_log_mel = log_mel[:, voiced_or_all]
    x = np.concatenate(
        [p.ravel() for p in parts]
        + [[y.shape[0] / config.sr, voiced.mean()]]
        + [contour(log_mel, mfcc, log_rms, semitones, voiced, fallback_f0=float(np.median(f0_voiced)))]
        + [voiced_log_mel.mean(axis=1), voiced_log_mel.std(axis=1)]
        + list(_delta_summary(log_mel))
    )
    if not np.isfinite(x).all():
        raise ParameterError("non-finite functionals (a degenerate signal)")
    return x.astype(np.float32)


def reference_lld(y: np.ndarray, *, config) -> np.ndarray:
    """The same descriptors through librosa's own calls (slow): the definition the fast path is tested against.

    Returns
    -------
    lld : np.ndarray [shape=(len(descriptor_names(config)), n_frames)]
    """
    import librosa

    sr, n_fft, hop = config.sr, config.n_fft, config.hop_length
    magnitude = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop))
    mel = librosa.feature.melspectrogram(S=magnitude**2, sr=sr, n_mels=config.n_mels)
    log_mel = librosa.power_to_db(mel, top_db=None)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel, top_db=config.top_db), n_mfcc=config.n_mfcc)
    width = delta_width(mfcc.shape[1])
    rms = librosa.feature.rms(y=y, frame_length=n_fft, hop_length=hop)
    log_rms = librosa.amplitude_to_db(rms, top_db=None)
    kw = dict(S=magnitude, sr=sr, n_fft=n_fft, hop_length=hop)
    return np.concatenate(
        [
            log_mel,
            mfcc,
            librosa.feature.delta(mfcc, width=width),
            librosa.feature.delta(mfcc, width=width, order=2),
            librosa.feature.spectral_contrast(
                **{**kw, "S": contrast_input(magnitude, n_fft=n_fft)}, n_bands=N_CONTRAST_BANDS
            ),
            np.log1p(librosa.feature.spectral_centroid(**kw)),
            np.log1p(librosa.feature.spectral_bandwidth(**kw)),
            np.log1p(librosa.feature.spectral_rolloff(**kw)),
            np.log(librosa.feature.spectral_flatness(S=magnitude, n_fft=n_fft, hop_length=hop) + 1e-10),
            librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop),
            log_rms,
            librosa.feature.delta(log_rms, width=width),
            librosa.onset.onset_strength(S=log_mel, sr=sr)[None],
        ]
    )
