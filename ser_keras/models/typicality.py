"""How far a clip's utterance features lie from the speech a model was trained on.

A model answers whatever it is given, and on audio unlike its training clips (another
corpus, a synthetic voice, noise, a telephone line it never heard) its probabilities
mean little while often looking confident.  `Typicality` is a probabilistic PCA (Tipping
and Bishop, 1999) of the standardised utterance features of the training rows, every
augmented view included: the leading `N_COMPONENTS` directions keep their own variances,
the rest share one.  A clip's `Typicality.distance` is its Mahalanobis distance under that
model per feature, ``sqrt(z' C^-1 z / n)``.  A run keeps the distance that the clips of
speakers its models never met stay within `QUANTILE` of the time (``max_distance``);
beyond it the answer is "uncertain" and the reason is given.

The same arithmetic runs in NumPy (`Typicality.distance`) and in TensorFlow ops for the
exported graph (`distance_graph`): standardise, clip to `Z_LIMIT`, project, subtract the
projection, sum squares.  Nothing subtracts two large, nearly equal numbers, so float32
on any kernel set agrees with float64 to about 1e-6 of the distance.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> speech = rng.normal(size=(500, 40)) @ rng.normal(size=(40, 40))
>>> typical = Typicality.fit(speech, n_components=8)
>>> near, far = typical.distance(speech[:3]), typical.distance(speech[:3] + 5 * speech.std(axis=0))
>>> bool((near < 2).all() and (far > 4).all())
True
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ParameterError

#: Directions of the training features with their own variance; the others share the mean of theirs.
N_COMPONENTS = 32
#: Standardised features are clipped to this many training standard deviations: one runaway column moves the
#: distance by a bounded amount.
Z_LIMIT = 10.0
#: A column whose training standard deviation is below this fraction of its typical size is left out.
CONSTANT_COLUMN = 1e-6
#: The share of clips of unseen speakers within a run's ``max_distance``.
QUANTILE = 0.95
#: The largest ``typicality.npz`` read (bytes), and the most columns and components it may hold.
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_COLUMNS, MAX_COMPONENTS = 100_000, 1024
_ARRAYS = ("mean", "inverse_scale", "components", "inverse_variances", "inverse_residual_variance")


@dataclass(frozen=True)
class Typicality:
    """A probabilistic PCA of training features, for `distance`.

    Attributes
    ----------
    mean : np.ndarray [shape=(n,)]
        The training mean of each column.
    inverse_scale : np.ndarray [shape=(n,)]
        One over each column's training standard deviation; 0 for a column constant in training.
    components : np.ndarray [shape=(k, n)]
        Orthonormal leading directions of the standardised training features.
    inverse_variances : np.ndarray [shape=(k,)]
        One over the training variance along each direction.
    inverse_residual_variance : float
        One over the mean variance of the other directions.
    """

    mean: np.ndarray
    inverse_scale: np.ndarray
    components: np.ndarray
    inverse_variances: np.ndarray
    inverse_residual_variance: float

    @property
    def n_columns(self) -> int:
        """How many leading columns of a feature row the distance reads."""
        return int(self.mean.shape[0])

    @property
    def n_used(self) -> int:
        """Columns that vary in training (the distance is per one of them)."""
        return max(1, int(np.count_nonzero(self.inverse_scale)))

    @classmethod
    def fit(cls, X: np.ndarray, *, n_components: int = N_COMPONENTS) -> Typicality:
        """Fit on training rows.

        Parameters
        ----------
        X : np.ndarray [shape=(m, n)]
            Utterance features of the training rows, ``m >= 3``.
        n_components : int > 0
            At most this many directions (fewer when the rows span fewer).

        Returns
        -------
        typicality : Typicality
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] < 3 or not np.isfinite(X).all():
            raise ParameterError(f"typicality needs finite rows (m, n) with m >= 3, got {X.shape}")
        mean, std = X.mean(axis=0), X.std(axis=0)
        varies = std > CONSTANT_COLUMN * (1.0 + np.abs(mean))
        inverse_scale = np.where(varies, 1.0 / np.where(varies, std, 1.0), 0.0)
        Z = np.clip((X - mean) * inverse_scale, -Z_LIMIT, Z_LIMIT)
        Z -= Z.mean(axis=0)
        _, singular, directions = np.linalg.svd(Z, full_matrices=False)
        variances = singular**2 / (X.shape[0] - 1)
        k = max(1, min(n_components, int(np.count_nonzero(variances > 1e-12 * variances[0])) - 1))
        n_used = max(int(varies.sum()), k + 1)
        residual = max(float(variances[k:].sum()) / (n_used - k), 1e-6 * float(variances[0]))
        return cls(
            mean=mean.astype(np.float32),
            inverse_scale=inverse_scale.astype(np.float32),
            components=directions[:k].astype(np.float32),
            inverse_variances=(1.0 / variances[:k]).astype(np.float32),
            inverse_residual_variance=float(1.0 / residual),
        )

    def distance(self, X: np.ndarray) -> np.ndarray:
        """The distance of each row from the training features (about 1 for a typical training row).

        Parameters
        ----------
        X : np.ndarray [shape=(m, >= n_columns)]
            Feature rows; the first `n_columns` are read.

        Returns
        -------
        distance : np.ndarray [shape=(m,), dtype=float64]
        """
        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)[:, : self.n_columns]
        Z = np.clip((X - self.mean) * self.inverse_scale, -Z_LIMIT, Z_LIMIT)
        V = self.components.astype(np.float64)
        along = Z @ V.T
        across = Z - along @ V
        squared = np.square(along) @ self.inverse_variances.astype(np.float64)
        squared += np.square(across).sum(axis=1) * self.inverse_residual_variance
        return np.sqrt(squared / self.n_used)

    def save(self, path: str | os.PathLike) -> None:
        """Write the arrays to ``path`` (``.npz``, no pickles)."""
        arrays = {name: np.asarray(getattr(self, name)) for name in _ARRAYS}
        with open(path, "wb") as handle:
            np.savez(handle, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike, *, n_columns: int) -> Typicality:
        """Read what `save` wrote, checked before use.

        Parameters
        ----------
        path : str or os.PathLike
        n_columns : int
            The leading feature columns of the run it belongs to.

        Raises
        ------
        ParameterError
            Too large, not an ``.npz`` of the expected arrays, shapes that do not fit ``n_columns``,
            or values that are not finite and positive where they must be; the message names the file.
        """
        path = Path(path)
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ParameterError(f"{path}: {size} bytes; a typicality file holds at most {MAX_FILE_BYTES}")
        if not 0 < n_columns <= MAX_COLUMNS:
            raise ParameterError(f"{path}: the run reads {n_columns} columns; at most {MAX_COLUMNS}")
        try:
            with np.load(path, allow_pickle=False) as stored:
                if set(stored.files) != set(_ARRAYS):
                    raise ParameterError(f"{path}: holds {sorted(stored.files)}, not {sorted(_ARRAYS)}")
                arrays = {name: np.asarray(stored[name], dtype=np.float64) for name in _ARRAYS}
        except (OSError, ValueError, EOFError) as exc:
            raise ParameterError(f"{path}: not a typicality file ({exc})") from None
        k = arrays["inverse_variances"].shape[0] if arrays["inverse_variances"].ndim == 1 else -1
        shapes = {
            "mean": (n_columns,),
            "inverse_scale": (n_columns,),
            "components": (k, n_columns),
            "inverse_variances": (k,),
            "inverse_residual_variance": (),
        }
        if not 0 < k <= MAX_COMPONENTS or any(arrays[n].shape != shape for n, shape in shapes.items()):
            found = {name: arrays[name].shape for name in _ARRAYS}
            raise ParameterError(f"{path}: arrays of shapes {found} do not fit a run of {n_columns} columns")
        if not all(np.isfinite(a).all() for a in arrays.values()):
            raise ParameterError(f"{path}: holds values that are not finite")
        positive = (arrays["inverse_variances"] > 0).all() and arrays["inverse_residual_variance"] > 0
        if not positive or (arrays["inverse_scale"] < 0).any():
            raise ParameterError(f"{path}: variances must be positive")
        return cls(
            mean=arrays["mean"].astype(np.float32),
            inverse_scale=arrays["inverse_scale"].astype(np.float32),
            components=arrays["components"].astype(np.float32),
            inverse_variances=arrays["inverse_variances"].astype(np.float32),
            inverse_residual_variance=float(arrays["inverse_residual_variance"]),
        )


def distance_graph(typicality: Typicality, X):
    """`Typicality.distance` in TensorFlow ops, for the exported graph.

    Parameters
    ----------
    typicality : Typicality
    X : tf.Tensor [shape=(m, >= n_columns), dtype=float32]

    Returns
    -------
    distance : tf.Tensor [shape=(m,), dtype=float32]
    """
    import tensorflow as tf

    t = typicality
    Z = tf.clip_by_value((X[:, : t.n_columns] - t.mean) * t.inverse_scale, -Z_LIMIT, Z_LIMIT)
    along = tf.matmul(Z, tf.constant(t.components.T))
    across = Z - tf.matmul(along, tf.constant(t.components))
    squared = tf.reduce_sum(tf.square(along) * t.inverse_variances, axis=1)
    squared += tf.reduce_sum(tf.square(across), axis=1) * np.float32(t.inverse_residual_variance)
    return tf.sqrt(squared / np.float32(t.n_used))


def distance_threshold(distance: np.ndarray) -> float:
    """A run's ``max_distance``: the `QUANTILE` of the distances of clips of speakers its models never met."""
    return round(float(np.quantile(np.asarray(distance, dtype=np.float64), QUANTILE)), 6)


def utterance_columns(config) -> int | None:
    """How many leading columns of a ``config`` row are utterance features (the typicality's input), or None for
    kinds without them (frames, images, stats)."""
    if config.kind == "functionals":
        return int(np.prod(config.output_shape()))
    if config.kind == "fusion":
        from ..features.fusion_kind import fusion_blocks

        return fusion_blocks(config)[2]
    return None
