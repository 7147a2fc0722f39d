"""Spectral primitives shared by every feature kind: windows, filter banks, framing, the power
spectrum, zero-crossing rate and ``power_to_db``, each equal to librosa's reference call.

Filter banks are built by librosa once per machine and kept on disk (`filter_cache_dir`),
so a process that only predicts never imports librosa, scipy.signal or numba.  NumPy only.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import SerError

#: Frames per FFT sub-batch: bounds the temporary ``(rows, n_fft)`` buffers.
_BATCH_ROWS = 512


# --- filter banks: built once, kept on disk --------------------------------------------

#: Where filter banks are kept between processes (``$SER_KERAS_CACHE_DIR``, else ``$XDG_CACHE_HOME/ser-keras``
#: or ``~/.cache/ser-keras``), so a process that only predicts never imports librosa to rebuild them.
CACHE_DIR_VARIABLE = "SER_KERAS_CACHE_DIR"


def filter_cache_dir() -> Path:
    """The folder of cached filter banks (see `CACHE_DIR_VARIABLE`)."""
    if os.environ.get(CACHE_DIR_VARIABLE):
        return Path(os.environ[CACHE_DIR_VARIABLE]) / "filters"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ser-keras" / "filters"


def _disk_cached(name: str, build: Callable[..., np.ndarray], shape: tuple[int, ...], **params) -> np.ndarray:
    """``build(**params)`` as read-only float32, read from `filter_cache_dir` when it was built before.

    The file is named by a hash of ``name``, ``params`` and librosa's version (read from its
    metadata, not imported), written atomically, and rebuilt when unreadable or of another
    shape; a cache that cannot be written only costs the rebuild next time.
    """
    from importlib.metadata import version

    key = hashlib.sha256(json.dumps([name, params, version("librosa")], sort_keys=True).encode()).hexdigest()[:20]
    path = filter_cache_dir() / f"{name}-{key}.npy"
    try:
        basis = np.load(path)
        if basis.shape != shape or basis.dtype != np.float32:
            raise ValueError(f"{path}: a cached filter bank of shape {basis.shape}, expected {shape}")
    except (OSError, ValueError):
        from ..files import atomic_write_bytes  # only when a bank is built: once per machine

        basis = np.ascontiguousarray(build(**params), dtype=np.float32)
        buffer = io.BytesIO()
        np.save(buffer, basis)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, buffer.getvalue())
        except (OSError, SerError):  # read-only or full: the bank is rebuilt next time
            pass
    basis.setflags(write=False)
    return basis


def _librosa_window(n_fft: int) -> np.ndarray:
    import librosa

    return librosa.filters.get_window("hann", n_fft, fftbins=True)


def _librosa_mel(*, sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)


def _librosa_chroma(*, sr: int, n_fft: int, n_chroma: int, tuning: float) -> np.ndarray:
    import librosa

    return librosa.filters.chroma(sr=sr, n_fft=n_fft, n_chroma=n_chroma, tuning=tuning)


@functools.lru_cache(maxsize=16)
def hann_window(n_fft: int) -> np.ndarray:
    """The periodic Hann window ``(n_fft,)`` float32 (``librosa.filters.get_window``), cached."""
    return _disk_cached("hann", _librosa_window, (n_fft,), n_fft=n_fft)


@functools.lru_cache(maxsize=16)
def mel_basis(*, sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """``librosa.filters.mel`` as float32 ``(n_mels, 1 + n_fft // 2)``, cached (`_disk_cached`)."""
    return _disk_cached("mel", _librosa_mel, (n_mels, 1 + n_fft // 2), sr=sr, n_fft=n_fft, n_mels=n_mels)


@functools.lru_cache(maxsize=16)
def chroma_basis(*, sr: int, n_fft: int, n_chroma: int, tuning: float) -> np.ndarray:
    """``librosa.filters.chroma`` as float32 ``(n_chroma, 1 + n_fft // 2)``, cached (`_disk_cached`)."""
    return _disk_cached(
        "chroma", _librosa_chroma, (n_chroma, 1 + n_fft // 2), sr=sr, n_fft=n_fft, n_chroma=n_chroma, tuning=tuning
    )


@functools.lru_cache(maxsize=16)
def dct_basis(*, n_mels: int, n_mfcc: int) -> np.ndarray:
    """Orthonormal DCT-II as float32 ``(n_mfcc, n_mels)``: the matrix ``librosa.feature.mfcc`` applies."""
    import scipy.fft

    basis = scipy.fft.dct(np.eye(n_mels, dtype=np.float64), type=2, norm="ortho", axis=0)[:n_mfcc]
    basis = basis.astype(np.float32)
    basis.setflags(write=False)
    return basis


# --- the shared STFT and the per-frame features -----------------------------------------


def frame_signal(y: np.ndarray, *, n_fft: int, hop_length: int, pad_mode: str) -> np.ndarray:
    """Centre-padded frames ``(batch, n_frames, n_fft)`` as a strided view."""
    pad = n_fft // 2
    padded = np.pad(y, ((0, 0), (pad, pad)), mode=pad_mode)
    return np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[:, ::hop_length]


def power_spectrum(y: np.ndarray, *, n_fft: int, hop_length: int) -> tuple[np.ndarray, np.ndarray]:
    """|STFT|² and the unwindowed frames of a batch (``librosa.stft``, ``center=True``, zero padding).

    Parameters
    ----------
    y : np.ndarray [shape=(batch, n), dtype=float32]

    Returns
    -------
    power : np.ndarray [shape=(batch, n_frames, 1 + n_fft // 2), dtype=float32]
    frames : np.ndarray [shape=(batch, n_frames, n_fft)]
        A read-only view of the zero-padded signal (used for RMS).
    """
    import scipy.fft

    frames = frame_signal(y, n_fft=n_fft, hop_length=hop_length, pad_mode="constant")
    batch, n_frames, _ = frames.shape
    window = hann_window(n_fft)
    power = np.empty((batch, n_frames, n_fft // 2 + 1), dtype=np.float32)
    for b in range(batch):  # the strided view is windowed block by block: its frames are never copied whole
        for start in range(0, n_frames, _BATCH_ROWS):
            block = slice(start, start + _BATCH_ROWS)
            spectrum = scipy.fft.rfft(frames[b, block] * window, axis=-1)
            np.square(spectrum.real, out=power[b, block])
            power[b, block] += np.square(spectrum.imag)
    return power, frames


def zero_crossing_rate(y: np.ndarray, *, frame_length: int, hop_length: int, threshold: float = 1e-10) -> np.ndarray:
    """``librosa.feature.zero_crossing_rate`` (``center=True``, edge padding) of a batch.

    Counts sign changes with one cumulative sum instead of framing.

    Parameters
    ----------
    y : np.ndarray [shape=(batch, n)]

    Returns
    -------
    zcr : np.ndarray [shape=(batch, 1 + n // hop_length), dtype=float32]
    """
    pad = frame_length // 2
    padded = np.pad(y, ((0, 0), (pad, pad)), mode="edge")
    negative = np.signbit(np.where(np.abs(padded) <= threshold, 0.0, padded))
    crossings = negative[:, 1:] != negative[:, :-1]
    counts = np.zeros((y.shape[0], crossings.shape[1] + 1), dtype=np.int32)  # int32: half the memory traffic of int64
    np.cumsum(crossings, axis=1, out=counts[:, 1:])
    starts = np.arange(1 + y.shape[1] // hop_length) * hop_length
    return ((counts[:, starts + frame_length - 1] - counts[:, starts]) / frame_length).astype(np.float32)


def power_to_db(power: np.ndarray, *, top_db: float | None, amin: float = 1e-10) -> np.ndarray:
    """``librosa.power_to_db`` with ``ref=1.0``, the ``top_db`` floor taken per signal (axis 0)."""
    db = 10.0 * np.log10(np.maximum(power, np.float32(amin)))
    if top_db is not None:
        floor = db.max(axis=tuple(range(1, db.ndim)), keepdims=True) - np.float32(top_db)
        np.maximum(db, floor, out=db)
    return db.astype(np.float32, copy=False)
