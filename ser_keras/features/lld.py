"""Frame-level descriptors over the whole utterance: the ``lld`` feature kind, for frame-level networks.

Each utterance is silence-trimmed and analysed exactly as for ``functionals``
(`ser_keras.features.functionals.low_level_descriptors`: one STFT, 16 kHz, n_fft 1024, hop 256):
per frame the log-mel energies, MFCCs with deltas and delta-deltas, spectral contrast,
log centroid / bandwidth / rolloff / flatness, ZCR, log-RMS and its delta and spectral
flux, plus the YIN pitch in semitones re 100 Hz and a voiced flag (`PITCH_ROWS`): 170
values per frame at the defaults.

Every example has ``config.sequence_frames`` frames, so a feature set is one array
``(n, sequence_frames, n_descriptors)``: a shorter utterance is repeated end to end
(wrap padding, so no frame is empty and statistics pooled over time are the
utterance's), a longer one keeps its middle ``sequence_frames``.  No frame is padding,
so the model needs no mask.  Like ``functionals``, the kind has a graph form
(`ser_keras.features.utterance_graph`), so its exported models take audio.
"""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError

#: The per-frame rows added to `ser_keras.features.functionals.descriptor_names`.
PITCH_ROWS = ("pitch_semitones", "voiced")


def descriptor_names(config) -> list[str]:
    """Column names of one frame: the functionals' descriptors, then `PITCH_ROWS`."""
    from .functionals import descriptor_names as lld_names

    return lld_names(config) + list(PITCH_ROWS)


def shape(config) -> tuple[int, int]:
    """One example's shape: ``(sequence_frames, n_descriptors)``."""
    return (config.sequence_frames, len(descriptor_names(config)))


def fit_frames(rows: np.ndarray, n_frames: int) -> np.ndarray:
    """Repeat ``rows`` end to end up to ``n_frames`` frames, or keep their middle ``n_frames``.

    Parameters
    ----------
    rows : np.ndarray [shape=(t, d)]
    n_frames : int > 0

    Returns
    -------
    fitted : np.ndarray [shape=(n_frames, d)]

    Examples
    --------
    >>> fit_frames(np.arange(3)[:, None], 7)[:, 0]
    array([0, 1, 2, 0, 1, 2, 0])
    >>> fit_frames(np.arange(6)[:, None], 2)[:, 0]
    array([2, 3])
    """
    t = rows.shape[0]
    if t >= n_frames:
        start = (t - n_frames) // 2
        return rows[start : start + n_frames]
    return rows[np.arange(n_frames) % t]


def lld_sequence(y: np.ndarray, *, config) -> np.ndarray:
    """The ``lld`` example of one utterance.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), dtype=float32]
        At ``config.sr``; trimmed here.
    config : FeatureConfig

    Returns
    -------
    x : np.ndarray [shape=(config.sequence_frames, n_descriptors), dtype=float32]
        Finite; columns named by `descriptor_names`.

    Raises
    ------
    ParameterError
        Less than about a tenth of a second of sound after trimming.
    """
    from .functionals import trimmed_descriptors

    return frames_of(*trimmed_descriptors(y, config=config, what="lld")[1:], config=config)


def frames_of(lld: np.ndarray, f0: np.ndarray, voiced: np.ndarray, *, config) -> np.ndarray:
    """The ``lld`` example from `ser_keras.features.functionals.low_level_descriptors` of the trimmed signal."""
    rows = np.concatenate([lld, 12.0 * np.log2(f0 / 100.0)[None], voiced[None].astype(np.float32)]).T
    if not np.isfinite(rows).all():
        raise ParameterError("non-finite frame descriptors (a degenerate signal)")
    return fit_frames(rows, config.sequence_frames).astype(np.float32)
