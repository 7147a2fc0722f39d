"""Speaker and corpus normalisation: each group's feature rows standardised by that group's own statistics.

``--normalize global`` leaves the features as they are (the model's first layer z-scores
them with train-split statistics).  ``--normalize speaker`` first maps every speaker's
rows to zero mean and unit variance per feature, using that speaker's own rows:
training speakers from their training rows (original views only, so augmentation
does not move the statistics), test speakers from their test rows.  At test time this
is **transductive**: it needs a batch of the unseen speaker's clips (as in the
literature), not one clip.  `MIN_SPEAKER_CLIPS` is the fewest clips that give usable
statistics; fewer get a warning.

``--normalize corpus`` does the same per corpus: at training each corpus's rows by that
corpus's statistics, at test time the clips being scored together (a target corpus, or a
batch of one user's recordings from one place) by theirs.  It is for recordings whose
speakers are unknown but that share a room, a microphone or a channel; it is transductive
in the same way.

Pure NumPy: arrays in, arrays out.
"""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError

NORMALIZATIONS = ("global", "speaker", "corpus")
#: The manifest column whose groups a transductive normalisation standardises together.
GROUP_COLUMNS = {"speaker": "speaker", "corpus": "corpus"}
#: Fewer clips than this per speaker give unreliable speaker statistics (a warning, not an error).
MIN_SPEAKER_CLIPS = 5
_EPS = 1e-6


def speaker_statistics(X: np.ndarray, *, time_axis: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of one speaker's examples, per feature.

    Parameters
    ----------
    X : np.ndarray [shape=(n, *feature_shape)]
    time_axis : int or None
        Axis of one example that is time (pooled with the examples), e.g. 0 for
        ``frames`` ``(T, F)``, 1 for ``mel`` ``(M, T)``.

    Returns
    -------
    mean, std : np.ndarray [shape=feature_shape with the time axis of length 1]
        ``std`` is floored at 1e-6.
    """
    axes = (0,) if time_axis is None else (0, 1 + time_axis)
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=axes, keepdims=True)[0]
    std = np.maximum(X.std(axis=axes, keepdims=True)[0], _EPS)
    return mean.astype(np.float32), std.astype(np.float32)


def standardize_by_speaker(
    X: np.ndarray, speakers: np.ndarray, *, reference: np.ndarray | None = None, time_axis: int | None = None
) -> np.ndarray:
    """Standardise each speaker's rows by that speaker's statistics.

    Parameters
    ----------
    X : np.ndarray [shape=(n, *feature_shape)]
    speakers : np.ndarray [shape=(n,)]
        The speaker of each row.
    reference : np.ndarray [shape=(n,), dtype=bool], optional
        Rows the statistics are computed from (e.g. original views, not augmented
        copies); every row of a speaker is standardised.  Default: all rows.
    time_axis : int or None
        See `speaker_statistics`.

    Returns
    -------
    Z : np.ndarray [shape=X.shape, dtype=float32]
    """
    X = np.asarray(X, dtype=np.float32)
    speakers = np.asarray(speakers)
    if len(speakers) != len(X):
        raise ParameterError(f"{len(speakers)} speaker labels for {len(X)} rows")
    reference = np.ones(len(X), dtype=bool) if reference is None else np.asarray(reference, dtype=bool)
    Z = np.empty_like(X)
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        basis = rows & reference
        mean, std = speaker_statistics(X[basis if basis.any() else rows], time_axis=time_axis)
        Z[rows] = (X[rows] - mean) / std
    return Z


def transductive(name: str | None) -> bool:
    """Whether a ``--normalize`` value standardises the scored clips by their own statistics."""
    return name in GROUP_COLUMNS


def standardize_groups(X: np.ndarray, rows, normalize: str, **options) -> np.ndarray:
    """`standardize_by_speaker` over the groups of ``rows[GROUP_COLUMNS[normalize]]`` (a manifest frame)."""
    return standardize_by_speaker(X, rows[GROUP_COLUMNS[normalize]].to_numpy(), **options)


def check_normalization(name: str) -> str:
    """``name`` if it is one of `NORMALIZATIONS`."""
    if name not in NORMALIZATIONS:
        raise ParameterError(f"unknown normalisation {name!r}; choose {' or '.join(NORMALIZATIONS)}")
    return name
