"""Acoustic features: the kind registry, each kind's NumPy form and, where it has one, its graph form.

A feature kind is one registry entry (`registry.KINDS`): its defaults, its layout (a vector, a
sequence of frames, an image), its column groups and its computation.  `config.FeatureConfig`
holds everything that determines a feature array; `registry.compute` computes a batch of clips.
The modules form layers: `config` below every computation, the computations (each with its NumPy
and, where it has one, its graph form), and `registry` above them all, which this package imports
first so that a `FeatureConfig` knows its kind wherever it is used.

- `config`: `FeatureConfig`, `FeatureKind` and the table of kinds the registry fills.
- `registry`: the entries of `KINDS`, `compute`.
- `functionals`: statistics of low-level descriptors over the whole, silence-trimmed utterance.
- `voice`: the functionals' voice block (harmonicity, formants, spectral balance of voiced frames).
- `lld`: frame-level descriptors over the utterance, for frame-level networks.
- `fusion_kind`: a clip's functionals vector and its lld frames in one row (the default kind).
- `seed_features`: the seed projects' features and the mel image (``stats``, ``frames``, ``mel``).
- `graph`: ``stats``, ``frames`` and ``mel`` in TensorFlow ops, for waveform-in SavedModels.
"""

import lazy_loader

from . import registry  # noqa: F401  (fills config.KINDS)

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "functionals": [
            "descriptor_names",
            "column_groups",
            "feature_names",
            "n_features",
            "summarize",
            "contour",
            "delta_width",
            "trim",
            "low_level_descriptors",
            "trimmed_descriptors",
            "functionals_of",
            "reference_lld",
        ],
        "fusion_kind": ["fusion_parts", "fusion_one", "fusion_shape", "fusion_names", "fusion_blocks"],
        "graph": ["waveform_features"],
        "lld": ["descriptor_names", "shape", "fit_frames", "lld_sequence", "frames_of"],
        "config": ["kind_defaults_text", "FeatureConfig", "FeatureKind", "get_kind"],
        "registry": ["compute"],
        "seed_features": ["frame_features", "log_mel_spectrogram", "reference_frame_features"],
        "voice": ["voice_descriptors", "lpc_formants"],
    },
)
