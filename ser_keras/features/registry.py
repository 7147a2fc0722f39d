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

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..errors import ParameterError
from ..options import number, option
from .fusion_kind import fusion_names, fusion_one, fusion_shape
from .seed_features import _frame_names, _mel_power_columns, frame_features, log_mel_spectrogram

#: The help section of the feature options.
FEATURE_GROUP = "features"
#: The kind the command line extracts when ``--features`` is not given.
DEFAULT_KIND = "fusion"


def _feature_option(default, name: str, **kwargs):
    """A `FeatureConfig` field that is a command-line option left at ``None``: the kind's default."""
    return option(
        default, cli_default=None, default_help=lambda: kind_defaults_text(name), group=FEATURE_GROUP, **kwargs
    )


def kind_defaults_text(name: str) -> str:
    """A feature option's default for each kind, from the registry (``22050 for stats, frames; 16000 for ...``)."""
    by_value: dict = {}
    for kind in KINDS:
        value = getattr(FeatureConfig.for_kind(kind), name)
        by_value.setdefault(value, []).append(kind)
    words = {"duration": "the whole utterance", "sequence_frames": "not used"}
    return "; ".join(
        f"{words.get(name, 'none') if value is None else f'{value:g}'} for {', '.join(kinds)}"
        for value, kinds in by_value.items()
    )


@dataclass(frozen=True)
class FeatureConfig:
    """Everything that determines a feature array; part of the cache fingerprint.

    ``offset`` / ``duration`` choose the window read from each file (seconds);
    ``fixed_length`` pads or trims every (augmented) signal to ``duration`` so all
    arrays of a set share one shape (always for ``frames`` and ``mel``).
    """

    kind: str = "stats"
    sr: int = _feature_option(22050, "sr", type=number(int, low=1000, high=384000), help="sample rate")
    n_fft: int = _feature_option(2048, "n_fft", type=number(int, low=16, high=65536), help="FFT size")
    hop_length: int = _feature_option(512, "hop_length", type=number(int, low=1, high=65536), help="hop in samples")
    n_mfcc: int = _feature_option(20, "n_mfcc", type=number(int, low=1, high=256), help="MFCCs")
    n_mels: int = _feature_option(128, "n_mels", type=number(int, low=1, high=1024), help="mel bands")
    n_chroma: int = 12
    chroma_tuning: float = 0.0
    top_db: float = 80.0
    offset: float = _feature_option(0.6, "offset", type=number(float, low=0, high=3600), help="window start in s")
    duration: float | None = _feature_option(
        2.5, "duration", type=number(float, low=0, high=600, low_open=True), help="window length in s"
    )
    fixed_length: bool = False
    min_duration: float = 0.25
    trim_db: float | None = None
    f0_min: float = 60.0
    f0_max: float = 500.0
    sequence_frames: int | None = _feature_option(
        None,
        "sequence_frames",
        type=number(int, low=1, high=100_000),
        help="frames of each lld example (a shorter utterance repeats)",
    )

    @classmethod
    def for_kind(cls, kind: str, **overrides) -> FeatureConfig:
        """The defaults of a kind (`FeatureKind.defaults`), then ``overrides`` (``None`` = keep the default).

        ``stats`` and ``frames``: 22.05 kHz, the 2.5 s window from 0.6 s (the seed projects').
        ``mel``: 16 kHz, 5 s from the start, padded or trimmed (the transfer-learning project's).
        ``functionals``: 16 kHz, the whole utterance trimmed at 40 dB, 64 mels, 30 MFCCs,
        n_fft 1024, hop 256.
        """
        base = {"kind": kind, **get_kind(kind).defaults}
        base.update({k: v for k, v in overrides.items() if v is not None})
        config = cls(**base)
        config.validate()
        return config

    def validate(self) -> None:
        get_kind(self.kind)
        for name in ("sr", "n_fft", "hop_length", "n_mfcc", "n_mels", "n_chroma"):
            if getattr(self, name) <= 0:
                raise ParameterError(f"{name} must be positive, got {getattr(self, name)}")
        if self.n_mfcc > self.n_mels:
            raise ParameterError("n_mfcc cannot exceed n_mels")
        if self.duration is not None and self.duration <= 0:
            raise ParameterError("duration must be positive")
        if self.duration is None and self.fixed_length:
            raise ParameterError(f"{self.kind} features need a fixed --duration")
        if self.n_mels > 1 + self.n_fft // 2:
            raise ParameterError(
                f"n_mels ({self.n_mels}) cannot exceed the {1 + self.n_fft // 2} FFT bins of n_fft {self.n_fft}"
            )
        if self.hop_length > self.n_fft:
            raise ParameterError(f"hop_length ({self.hop_length}) cannot exceed n_fft ({self.n_fft})")
        if self.kind in ("lld", "fusion") and (self.sequence_frames is None or self.sequence_frames < 1):
            raise ParameterError(f"lld features need sequence_frames >= 1, got {self.sequence_frames}")
        if self.kind in ("functionals", "lld", "fusion") and not 0 < self.f0_min < self.f0_max < self.sr / 2:
            raise ParameterError(f"need 0 < f0_min < f0_max < sr/2, got {self.f0_min}, {self.f0_max}")

    @property
    def kind_spec(self) -> FeatureKind:
        """This config's `FeatureKind`."""
        return get_kind(self.kind)

    @property
    def n_samples(self) -> int:
        """Samples of a fixed-length signal."""
        if self.duration is None:
            raise ParameterError(f"{self.kind} features have no fixed length")
        return int(round(self.duration * self.sr))

    @property
    def n_features(self) -> int:
        """Columns of ``stats`` / ``frames`` (162 at the defaults)."""
        return 1 + self.n_chroma + self.n_mfcc + 1 + self.n_mels

    def n_frames(self, n_samples: int | None = None) -> int:
        """STFT frames (``center=True``) of a signal of ``n_samples`` (default: the fixed length)."""
        return 1 + (self.n_samples if n_samples is None else n_samples) // self.hop_length

    def output_shape(self) -> tuple[int, ...]:
        """Shape of one example (without the batch axis)."""
        return self.kind_spec.shape(self)

    def feature_names(self) -> list[str] | None:
        """Column names of vector and frame kinds (``zcr, chroma_0.., mfcc_0.., rms, mel_0..`` for stats).

        None for images."""
        return self.kind_spec.names(self) if self.kind_spec.names else None

    def column_signature(self) -> list:
        """The output shape and a SHA-256 of the column names: part of every cache key (a feature set's
        fingerprint, a row's item key), so a kind that gains a block never matches an old set or row."""
        names = self.kind_spec.names(self) if self.kind_spec.names else []
        signature = [list(self.output_shape()), hashlib.sha256("\n".join(names).encode()).hexdigest()]
        return signature + ([self.kind_spec.revision] if self.kind_spec.revision > 1 else [])

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FeatureConfig:
        """The config recorded in a ``run.json`` or feature set, checked field by field (`FIELD_LIMITS`).

        Raises
        ------
        ParameterError
            Not a mapping, an unknown field, a value of the wrong type or out of range, or
            an inconsistent whole (`validate`); the message names the field.
        """
        if not isinstance(data, dict):
            raise ParameterError(f"features: expected a mapping, got {type(data).__name__}")
        for name, value in data.items():
            if name not in FIELD_LIMITS:
                raise ParameterError(f"features.{name}: unknown field")
            types, low, high = FIELD_LIMITS[name]
            if value is None and type(None) in types:
                continue
            if isinstance(value, bool) and bool not in types or not isinstance(value, types):
                raise ParameterError(
                    f"features.{name}: expected {' or '.join(t.__name__ for t in types)}, got {value!r}"
                )
            if low is not None and not (low <= value <= high):
                raise ParameterError(f"features.{name}: must lie in [{low:g}, {high:g}], got {value!r}")
        if "kind" in data and data["kind"] not in KINDS:
            raise ParameterError(f"features.kind: unknown kind {data['kind']!r}; known: {', '.join(KINDS)}")
        config = replace(cls(), **data)
        try:
            config.validate()
        except ParameterError as exc:
            raise ParameterError(f"features: {exc}") from None
        return config


#: Type and range of each `FeatureConfig` field as read from a file (the command line's own limits).
FIELD_LIMITS: dict[str, tuple[tuple[type, ...], float | None, float | None]] = {
    "kind": ((str,), None, None),
    "sr": ((int,), 1000, 384000),
    "n_fft": ((int,), 16, 65536),
    "hop_length": ((int,), 1, 65536),
    "n_mfcc": ((int,), 1, 1024),
    "n_mels": ((int,), 1, 1024),
    "n_chroma": ((int,), 1, 120),
    "chroma_tuning": ((int, float), -1, 1),
    "top_db": ((int, float), 0, 300),
    "offset": ((int, float), 0, 3600),
    "duration": ((int, float, type(None)), 1e-3, 600),
    "fixed_length": ((bool,), None, None),
    "min_duration": ((int, float), 0, 600),
    "trim_db": ((int, float, type(None)), 0, 300),
    "f0_min": ((int, float), 1, 20000),
    "f0_max": ((int, float), 1, 20000),
    "sequence_frames": ((int, type(None)), 1, 100000),
}


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


# --- the registry of feature kinds --------------------------------------------------------


@dataclass(frozen=True)
class FeatureKind:
    """One feature representation: everything the pipeline needs to know about it.

    Attributes
    ----------
    name : str
    description : str
        One line for ``--help``.
    defaults : dict
        `FeatureConfig` fields that differ from the dataclass defaults.
    shape : callable ``(config) -> tuple``
        One example's shape.
    names : callable ``(config) -> list of str`` or None
        Column names (vector and frame kinds).
    compute_batch : callable ``(y (batch, n), *, config) -> (batch, *shape)`` or None
        NumPy compute of equal-length signals.
    compute_one : callable ``(y (n,), *, config) -> shape`` or None
        NumPy compute of one variable-length signal (when there is no batched form).
    graph : callable ``(waveform tf.Tensor (batch, n), config) -> tf.Tensor`` or None
        The same features in TensorFlow ops, for the SavedModel's waveform signature;
        None when there is no faithful graph form (the SavedModel takes feature arrays only).
    layout : {'vector', 'sequence', 'image', 'fused'}
        What model families it suits: vectors (MLP, Conv1D over features, scikit-learn),
        time sequences ``(T, F)``, images ``(M, T)``, or a vector and a sequence in one
        row (`fusion_blocks`).
    default_model : str
    time_axis : int or None
        Axis of one example that is time (averaged for the gender router; pooled by
        speaker normalisation); None for vectors.
    power_columns : callable ``(config) -> (start, stop)`` or None
        Columns of raw power (the ``stats`` / ``frames`` mel block) that models
        log-compress inside themselves before their z-score.
    column_groups : callable ``(config) -> list of str`` or None
        The descriptor family of each column of a vector kind: logistic regression
        weighs each family equally (``--group-balance``, `ser_keras.training.fit_sklearn.group_weights`).
    revision : int
        Raised when a descriptor's definition changes under the same column names, so
        that feature sets and rows computed before never match (`column_signature`).
    """

    name: str
    description: str
    shape: Callable
    default_model: str
    layout: str
    defaults: dict = field(default_factory=dict)
    names: Callable | None = None
    compute_batch: Callable | None = None
    compute_one: Callable | None = None
    graph: Callable | None = None
    time_axis: int | None = None
    power_columns: Callable | None = None
    column_groups: Callable | None = None
    revision: int = 1


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


#: The whole utterance at 16 kHz, trimmed at 40 dB, the functionals' STFT and filter banks.
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

KINDS: dict[str, FeatureKind] = {
    kind.name: kind
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
            revision=2,  # formants: LPC envelope peaks; YIN in float64; contrast floored
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
            revision=2,  # YIN in float64, spectral contrast floored
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
            revision=2,  # formants: LPC envelope peaks; YIN in float64; contrast floored
        ),
    )
}
FEATURE_KINDS = tuple(KINDS)


def get_kind(name: str) -> FeatureKind:
    """The registered `FeatureKind` called ``name``."""
    if name not in KINDS:
        raise ParameterError(f"unknown feature kind {name!r}; choose one of {', '.join(KINDS)}")
    return KINDS[name]
