"""The ``fusion`` kind: a clip's ``functionals`` vector and its ``lld`` frames in one row.

An example is the functionals vector, then the ``(sequence_frames, n_descriptors)``
frame matrix flattened row by row (`fusion_blocks`).  Both blocks come from one
trimming and one set of descriptors: the two kinds' STFT and YIN are the same.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from . import functionals, lld


def fusion_parts(config):
    """The ``functionals`` and ``lld`` configs a ``fusion`` config is made of."""
    return replace(config, kind="functionals", sequence_frames=None), replace(config, kind="lld")


def fusion_one(y: np.ndarray, *, config) -> np.ndarray:
    """One clip's fusion row.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), dtype=float32]
        At ``config.sr``.
    config : FeatureConfig
        Of kind ``fusion``.

    Returns
    -------
    row : np.ndarray [shape=(n_functionals + sequence_frames * n_descriptors,)]
    """
    utterance, frames = fusion_parts(config)
    trimmed, descriptors, f0, voiced = functionals.trimmed_descriptors(y, config=utterance, what="fusion")
    return np.concatenate(
        [
            functionals.functionals_of(trimmed, descriptors, f0, voiced, config=utterance),
            lld.frames_of(descriptors, f0, voiced, config=frames).ravel(),
        ]
    )


def fusion_shape(config) -> tuple[int]:
    utterance, frames = fusion_parts(config)
    return (functionals.n_features(utterance) + int(np.prod(lld.shape(frames))),)


def fusion_names(config) -> list[str]:
    utterance, frames = fusion_parts(config)
    names = lld.descriptor_names(frames)
    return functionals.feature_names(utterance) + [
        f"frame{t}_{name}" for t in range(frames.sequence_frames) for name in names
    ]


def fusion_blocks(config):
    """How a ``fusion`` example is laid out.

    Returns
    -------
    utterance, frames : FeatureConfig
        Its ``functionals`` and ``lld`` configs.
    n_utterance : int
        Where the flattened frames start.
    """
    utterance, frames = fusion_parts(config)
    return utterance, frames, functionals.n_features(utterance)
