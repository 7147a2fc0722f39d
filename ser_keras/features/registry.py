"""Acoustic features: pure functions of waveform batches, equal to librosa's, computed fast.

The representations (`FeatureConfig.kind`):

``stats``
    The time-averaged vector of the seed projects, ``(n_features,)``: ZCR (1) + chroma
    (12) + MFCC (``n_mfcc``) + RMS (1) + mel power (``n_mels``) = 162 at the defaults.
``frames``
    The same features per frame, ``(n_frames, n_features)``, for Conv1D and CNN-LSTM.
``mel``
    A log-mel image ``(n_mels, n_frames)`` for Conv2D and transfer learning.
``functionals``
    Statistics of ~200 descriptors over the whole silence-trimmed utterance,
    ``(n_features,)`` = 2606 at the defaults (`ser_keras.features.functionals`).
``lld``
    The functionals' descriptors per frame over the whole utterance, ``(192, 170)``.
``fusion``
    The ``functionals`` vector and the ``lld`` frames of the same clip in one row.

Each kind is one `FeatureKind` in the `KINDS` registry: its defaults, output shape,
column names, NumPy compute, graph compute (or none) and the model families it suits.
A new kind is one new entry (and usually one new module).

The seed kinds' values equal librosa's calls on the same signal, computed the fast way
(`ser_keras.features.seed_features`); the utterance kinds are `ser_keras.features.functionals`,
`ser_keras.features.lld` and `ser_keras.features.fusion_kind`.
"""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError
from .config import (  # noqa: F401  (the registry's public names)
    FEATURE_GROUP,
    FIELD_LIMITS,
    KINDS,
    FeatureConfig,
    FeatureKind,
    get_kind,
    kind_defaults_text,
)
from .fusion_kind import fusion_names, fusion_one, fusion_shape
from .seed_features import _frame_names, _mel_power_columns, frame_features, log_mel_spectrogram

#: The kind the command line extracts when ``--features`` is not given.
DEFAULT_KIND = "fusion"


def compute(signals: list[np.ndarray], *, config: FeatureConfig) -> np.ndarray:
    """The configured representation of each signal, batching signals of equal length.

    Parameters
    ----------
    signals : list of np.ndarray [shape=(n_i,), dtype=float32]
        Waveforms at ``config.sr``; for ``frames`` and ``mel`` (and ``stats`` with
        ``fixed_length``) already of length ``config.n_samples``.
    config : FeatureConfig

    Returns
    -------
    X : np.ndarray [shape=(len(signals), *config.output_shape()), dtype=float32]
    """
    kind = config.kind_spec
    out = np.empty((len(signals), *config.output_shape()), dtype=np.float32)
    if kind.compute_one is not None:  # variable-length utterances, one at a time
        for i, y in enumerate(signals):
            out[i] = kind.compute_one(np.asarray(y, dtype=np.float32), config=config)
        return out
    by_length: dict[int, list[int]] = {}
    for i, y in enumerate(signals):
        by_length.setdefault(y.shape[0], []).append(i)
    for length, rows in by_length.items():
        if config.fixed_length and length != config.n_samples:
            raise ParameterError(f"{config.kind} features need signals of {config.n_samples} samples, got {length}")
        out[rows] = kind.compute_batch(np.stack([signals[i] for i in rows]), config=config)
    return out


def _stats_batch(y, *, config):
    return frame_features(y, config=config).mean(axis=1)


def _functionals_one(y, *, config):
    from .functionals import functionals

    return functionals(y, config=config)


def _functionals_shape(config):
    from .functionals import n_features

    return (n_features(config),)


def _functionals_names(config):
    from .functionals import feature_names

    return feature_names(config)


def _functionals_groups(config):
    from .functionals import column_groups

    return column_groups(config)


def _lld_one(y, *, config):
    from .lld import lld_sequence

    return lld_sequence(y, config=config)


def _lld_shape(config):
    from .lld import shape

    return shape(config)


def _lld_names(config):
    from .lld import descriptor_names

    return descriptor_names(config)


def _graph(waveform, config):
    from .graph import waveform_features

    return waveform_features(waveform, config)


def _utterance_graph(waveform, config):
    from .utterance_graph import utterance_batch

    return utterance_batch(waveform, config)


#: The whole utterance at 16 kHz, trimmed at 40 dB below its peak, the functionals' STFT and filter banks.
_FUNCTIONALS_DEFAULTS = {
    "sr": 16000,
    "offset": 0.0,
    "duration": None,
    "n_fft": 1024,
    "hop_length": 256,
    "n_mels": 64,
    "n_mfcc": 30,
    "trim_db": 40.0,
}

KINDS.update(
    (kind.name, kind)
    for kind in (
        FeatureKind(
            "stats",
            "162 time means of ZCR, chroma, MFCC, RMS and mel power (the seed projects')",
            shape=lambda c: (c.n_features,),
            names=lambda c: _frame_names(c),
            compute_batch=_stats_batch,
            graph=_graph,
            layout="vector",
            default_model="conv1d",
            power_columns=lambda c: _mel_power_columns(c),
        ),
        FeatureKind(
            "frames",
            "the same per frame (T, 162)",
            defaults={"fixed_length": True},
            shape=lambda c: (c.n_frames(), c.n_features),
            names=lambda c: _frame_names(c),
            compute_batch=lambda y, *, config: frame_features(y, config=config),
            graph=_graph,
            layout="sequence",
            default_model="cnn_lstm",
            time_axis=0,
            power_columns=lambda c: _mel_power_columns(c),
        ),
        FeatureKind(
            "mel",
            "log-mel image (n_mels, T)",
            defaults={"sr": 16000, "offset": 0.0, "duration": 5.0, "fixed_length": True},
            shape=lambda c: (c.n_mels, c.n_frames()),
            compute_batch=lambda y, *, config: log_mel_spectrogram(y, config=config),
            graph=_graph,
            layout="image",
            default_model="conv2d",
            time_axis=1,
        ),
        FeatureKind(
            "functionals",
            "statistics of ~200 descriptors over the whole trimmed utterance (2606)",
            defaults=_FUNCTIONALS_DEFAULTS,
            shape=_functionals_shape,
            names=_functionals_names,
            compute_one=_functionals_one,
            graph=_utterance_graph,
            layout="vector",
            default_model="logreg",
            column_groups=_functionals_groups,
            revision=3,  # one level and noise floor before the descriptors (features.level)
        ),
        FeatureKind(
            "lld",
            "the functionals' 170 frame descriptors over the whole trimmed utterance, wrapped to a fixed "
            "(sequence_frames, 170)",
            defaults={**_FUNCTIONALS_DEFAULTS, "sequence_frames": 192},
            shape=_lld_shape,
            names=_lld_names,
            compute_one=_lld_one,
            graph=_utterance_graph,
            layout="sequence",
            default_model="tdnn",
            time_axis=0,
            revision=3,  # one level and noise floor before the descriptors (features.level)
        ),
        FeatureKind(
            "fusion",
            "functionals and lld of the same utterance in one example (the fusion model's input)",
            defaults={**_FUNCTIONALS_DEFAULTS, "sequence_frames": 192},
            shape=fusion_shape,
            names=fusion_names,
            compute_one=fusion_one,
            graph=_utterance_graph,
            layout="fused",
            default_model="fusion",
            revision=3,  # one level and noise floor before the descriptors (features.level)
        ),
    )
)
FEATURE_KINDS = tuple(KINDS)
