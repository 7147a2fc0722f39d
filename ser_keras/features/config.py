"""What determines a feature array: `FeatureConfig`, and `FeatureKind`, the shape of a registry entry.

This module sits below every feature computation: the NumPy and graph forms take a
`FeatureConfig`, and `ser_keras.features.registry` fills `KINDS` with one `FeatureKind` per
representation.  A config asks its kind's entry (`FeatureConfig.kind_spec`) for its defaults,
shape and column names, so nothing here imports a computation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

from ..errors import ParameterError
from ..options import number, option

#: The help section of the feature options.
FEATURE_GROUP = "features"


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


#: The registered kinds by name, in ``--features`` order (filled by `ser_keras.features.registry`).
KINDS: dict[str, FeatureKind] = {}


def get_kind(name: str) -> FeatureKind:
    """The registered `FeatureKind` called ``name``."""
    if name not in KINDS:
        raise ParameterError(f"unknown feature kind {name!r}; choose one of {', '.join(KINDS)}")
    return KINDS[name]
