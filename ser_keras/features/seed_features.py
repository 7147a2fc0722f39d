"""The seed projects' features and the mel image: the ``stats``, ``frames`` and ``mel`` kinds.

Per frame: ZCR (1) + chroma (12) + MFCC (``n_mfcc``) + RMS (1) + mel power (``n_mels``),
in `FRAME_BLOCKS` order (`frame_features`); ``stats`` is their time average, ``mel`` the
log-mel image (`log_mel_spectrogram`).  Every value equals the librosa call on the same
signal (`reference_frame_features`, the definition the tests and ``bench/extract_speed.py``
hold the fast path to): one STFT per signal shared by every spectral feature, signals of
equal length batched so each filter bank is one matrix product over all frames, float32
throughout.

Chroma uses a fixed tuning (``chroma_tuning=0.0``, A440) by default rather than
librosa's per-file ``estimate_tuning``: speech is not tuned to a scale, and a
per-file estimate would move the chroma bins with the speaker's pitch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..signal.spectral import (
    chroma_basis,
    dct_basis,
    mel_basis,
    power_spectrum,
    power_to_db,
    zero_crossing_rate,
)

if TYPE_CHECKING:
    from .config import FeatureConfig

#: Feature blocks of ``stats`` / ``frames`` in column order.
FRAME_BLOCKS = ("zcr", "chroma", "mfcc", "rms", "mel")


def frame_features(y: np.ndarray, *, config: FeatureConfig) -> np.ndarray:
    """Per-frame ZCR, chroma, MFCC, RMS and mel power of equal-length signals.

    Parameters
    ----------
    y : np.ndarray [shape=(batch, n), dtype=float32]
    config : FeatureConfig

    Returns
    -------
    features : np.ndarray [shape=(batch, 1 + n // hop_length, config.n_features), dtype=float32]
        Columns in `FRAME_BLOCKS` order (see `FeatureConfig.feature_names`).
    """
    y = np.ascontiguousarray(y, dtype=np.float32)
    n_fft, hop = config.n_fft, config.hop_length
    power, frames = power_spectrum(y, n_fft=n_fft, hop_length=hop)
    batch, n_frames, n_bins = power.shape
    flat_power = power.reshape(-1, n_bins)

    mel = flat_power @ mel_basis(sr=config.sr, n_fft=n_fft, n_mels=config.n_mels).T
    chroma = (
        np.sqrt(flat_power)
        @ chroma_basis(sr=config.sr, n_fft=n_fft, n_chroma=config.n_chroma, tuning=config.chroma_tuning).T
    )
    peak = np.max(np.abs(chroma), axis=1, keepdims=True)
    chroma /= np.where(peak < np.finfo(np.float32).tiny, 1.0, peak)  # librosa.util.normalize(norm=inf)
    log_mel = power_to_db(mel.reshape(batch, n_frames, -1), top_db=config.top_db)
    mfcc = log_mel.reshape(-1, config.n_mels) @ dct_basis(n_mels=config.n_mels, n_mfcc=config.n_mfcc).T
    rms = np.sqrt(np.einsum("btn,btn->bt", frames, frames, dtype=np.float32) / n_fft)
    zcr = zero_crossing_rate(y, frame_length=n_fft, hop_length=hop)

    out = np.empty((batch, n_frames, config.n_features), dtype=np.float32)
    out[..., 0] = zcr
    c = 1 + config.n_chroma
    out[..., 1:c] = chroma.reshape(batch, n_frames, -1)
    out[..., c : c + config.n_mfcc] = mfcc.reshape(batch, n_frames, -1)
    out[..., c + config.n_mfcc] = rms
    out[..., c + config.n_mfcc + 1 :] = mel.reshape(batch, n_frames, -1)
    return out


def log_mel_spectrogram(y: np.ndarray, *, config: FeatureConfig) -> np.ndarray:
    """``power_to_db(melspectrogram(y))`` (ref 1.0, per-signal ``top_db``) of equal-length signals.

    Returns
    -------
    S_db : np.ndarray [shape=(batch, n_mels, 1 + n // hop_length), dtype=float32]
    """
    y = np.ascontiguousarray(y, dtype=np.float32)
    power, _ = power_spectrum(y, n_fft=config.n_fft, hop_length=config.hop_length)
    batch, n_frames, n_bins = power.shape
    mel = power.reshape(-1, n_bins) @ mel_basis(sr=config.sr, n_fft=config.n_fft, n_mels=config.n_mels).T
    return power_to_db(mel.reshape(batch, n_frames, -1), top_db=config.top_db).transpose(0, 2, 1).copy()


def _mel_power_columns(config: FeatureConfig) -> tuple[int, int]:
    """The mel power block of ``stats`` / ``frames`` (`FRAME_BLOCKS` order: it is last)."""
    return config.n_features - config.n_mels, config.n_features


def _frame_names(config: FeatureConfig) -> list[str]:
    return (
        ["zcr"]
        + [f"chroma_{i}" for i in range(config.n_chroma)]
        + [f"mfcc_{i}" for i in range(config.n_mfcc)]
        + ["rms"]
        + [f"mel_{i}" for i in range(config.n_mels)]
    )


def reference_frame_features(y: np.ndarray, *, config: FeatureConfig) -> np.ndarray:
    """The same per-frame features through librosa's own calls, one signal at a time (slow).

    The definition the fast path is tested against, and the baseline of ``bench/extract_speed.py``.

    Returns
    -------
    features : np.ndarray [shape=(n_frames, config.n_features)]
    """
    import librosa

    kw = dict(n_fft=config.n_fft, hop_length=config.hop_length)
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=config.n_fft, hop_length=config.hop_length)
    magnitude = np.abs(librosa.stft(y, **kw))
    chroma = librosa.feature.chroma_stft(
        S=magnitude, sr=config.sr, n_chroma=config.n_chroma, tuning=config.chroma_tuning, **kw
    )
    mel = librosa.feature.melspectrogram(y=y, sr=config.sr, n_mels=config.n_mels, **kw)
    # what mfcc(y=y) computes, with this config's top_db
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel, top_db=config.top_db), n_mfcc=config.n_mfcc)
    rms = librosa.feature.rms(y=y, frame_length=config.n_fft, hop_length=config.hop_length)
    return np.concatenate([zcr, chroma, mfcc, rms, mel], axis=0).T
