"""Predict emotions of audio with a trained run: ``Predictor`` and ``ser-keras predict``.

The features are always those the model was trained on, rebuilt from the run's
sidecar (``run.json``), never from defaults.  A clip is cut into consecutive windows of
the training ``duration`` starting at the training ``offset`` (`segments`); the clip's
probabilities are the mean over its windows, so audio longer than the training window
(e.g. 5 s for the transfer-learning models) is scored as a whole.

With a ``--gender all`` run group (`GROUP_FILE`), ``gender="auto"`` routes each clip to
the male or female model by the gender classifier trained alongside; a single run
directory is used as it is.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .audio import fix_length, load, resample, to_mono, validate
from .errors import ParameterError, SerError
from .features import FeatureConfig, compute

#: A ``--gender all`` training writes this file into its group folder.
GROUP_FILE = "group.json"


def segments(y: np.ndarray, *, config: FeatureConfig) -> list[np.ndarray]:
    """Cut a waveform into the windows a model of ``config`` scores.

    The first window starts at ``config.offset`` when at least ``min_duration`` remains
    after it (else at 0), as in training; further windows follow back to back while at
    least half a window of audio is left.  Fixed-length features get each window
    zero-padded (centred) to ``config.n_samples``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), dtype=float32]
        At ``config.sr``.
    config : FeatureConfig

    Returns
    -------
    windows : list of np.ndarray [shape=(m,)]
    """
    start = int(round(config.offset * config.sr))
    if y.shape[0] - start < int(round(config.min_duration * config.sr)):
        start = 0
    length = config.n_samples if config.duration is not None else y.shape[0] - start
    windows = [y[start : start + length]]
    position = start + length
    while y.shape[0] - position >= max(length // 2, 1):
        windows.append(y[position : position + length])
        position += length
    if config.fixed_length:
        windows = [fix_length(w, size=config.n_samples, mode="centre") for w in windows]
    elif windows[0].shape[0] < config.n_fft // 2:
        raise ParameterError(f"too short for one analysis frame ({y.shape[0] / config.sr:.3f} s)")
    return windows


@dataclass
class _Model:
    """One trained run: its sidecar, feature config and model."""

    run_dir: Path
    sidecar: dict
    features: FeatureConfig
    model: object

    @classmethod
    def load(cls, run_dir: Path) -> _Model:
        from .train import load_run

        sidecar, model = load_run(run_dir)
        return cls(run_dir, sidecar, FeatureConfig.from_dict(sidecar["features"]), model)

    def probabilities(self, y: np.ndarray) -> tuple[np.ndarray, int]:
        """Mean class probabilities ``(n_labels,)`` over the windows of one waveform at ``features.sr``,
        and the number of windows."""
        from .train import predict_probabilities

        X = compute(segments(y, config=self.features), config=self.features)
        return predict_probabilities(self.model, X).mean(axis=0), len(X)


class Predictor:
    """Emotion predictions from a run directory (or a ``--gender all`` group).

    Examples
    --------
    >>> predictor = Predictor.from_run("models/stats-conv1d-mixed-1a2b3c4d-seed0")  # doctest: +SKIP
    >>> predictor.predict_file("clip.wav")["emotion"]  # doctest: +SKIP
    'angry'
    """

    def __init__(self, models: dict[str, _Model], *, gender_model=None, gender_features: FeatureConfig | None = None):
        self.models = models
        self.gender_model = gender_model
        self.gender_features = gender_features
        self.labels: list[str] = models["mixed"].sidecar["labels"]
        for name, part in models.items():
            if part.sidecar["labels"] != self.labels:
                raise ParameterError(f"{part.run_dir}: its labels differ from the mixed model's")

    @classmethod
    def from_run(cls, path: str | os.PathLike, *, gender: str = "mixed") -> Predictor:
        """Load a run directory, or a ``--gender all`` group folder.

        Parameters
        ----------
        path : path
        gender : {'mixed', 'male', 'female', 'auto'}
            With a group: which model answers; ``auto`` routes each clip by the gender
            classifier.  A single run directory answers whatever its gender.
        """
        path = Path(path)
        if (path / GROUP_FILE).is_file():
            group = json.loads((path / GROUP_FILE).read_text())
            models = {name: _Model.load(path / rel) for name, rel in group["runs"].items()}
            if gender in ("male", "female", "mixed"):
                return cls({"mixed": models[gender]})
            if gender != "auto":
                raise ParameterError(f"unknown gender {gender!r}; choose mixed, male, female or auto")
            import joblib

            return cls(models, gender_model=joblib.load(path / group["gender_classifier"]),
                       gender_features=FeatureConfig.from_dict(group["features"]))  # fmt: skip
        if gender not in ("mixed", "auto"):
            raise ParameterError(f"{path}: --gender {gender} needs a --gender all run group")
        return cls({"mixed": _Model.load(path)})

    @property
    def sr(self) -> int:
        """Sample rate the features are computed at."""
        return self.models["mixed"].features.sr

    def predict(self, waveform: np.ndarray, sr: int, *, name: str = "<waveform>") -> dict:
        """Predict the emotion of one waveform.

        Parameters
        ----------
        waveform : np.ndarray [shape=(n,) or (n, channels)]
        sr : int
            Its sample rate; it is resampled to the model's.
        name : str
            Named in errors.

        Returns
        -------
        result : dict
            ``emotion`` (str), ``probabilities`` (emotion -> float), ``model`` (which
            gender model answered) and ``n_windows``.
        """
        y = np.asarray(waveform, dtype=np.float32)
        y = to_mono(y.T) if y.ndim == 2 else y
        y = validate(y, sr=sr, min_duration=self.models["mixed"].features.min_duration, name=name)
        resampled: dict[int, np.ndarray] = {}

        def at(rate: int) -> np.ndarray:
            if rate not in resampled:
                resampled[rate] = resample(y, orig_sr=sr, target_sr=rate)
            return resampled[rate]

        which = self._route(at) if self.gender_model is not None else "mixed"
        part = self.models[which]
        y_model = at(part.features.sr)
        probabilities, n_windows = part.probabilities(y_model)
        return {
            "emotion": self.labels[int(np.argmax(probabilities))],
            "probabilities": {label: float(p) for label, p in zip(self.labels, probabilities)},
            "model": which,
            "n_windows": n_windows,
        }

    def _route(self, at) -> str:
        """``male`` / ``female`` by the gender classifier, ``mixed`` when it is unsure."""
        config = self.gender_features
        X = compute(segments(at(config.sr), config=config), config=config)
        proba = self.gender_model.predict_proba(gender_inputs(X, config.kind)).mean(axis=0)
        best = int(np.argmax(proba))
        return str(self.gender_model.classes_[best]) if proba[best] >= 0.6 else "mixed"

    def predict_file(self, path: str | os.PathLike) -> dict:
        """`predict` on an audio file (read whole, at the model's sample rate)."""
        y = load(path, sr=self.sr, min_duration=self.models["mixed"].features.min_duration, on_silence="error")
        return self.predict(y, self.sr, name=str(path))

    def predict_files(self, paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
        """One row per file: ``path``, ``emotion``, ``model``, ``error`` and one probability column per emotion.

        Folders are walked for audio files; a file that cannot be used gets its error in
        its row and the others go on.
        """
        rows = []
        for path in expand_paths(paths):
            row = {"path": str(path), "emotion": None, "model": None, "error": None}
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    result = self.predict_file(path)
            except (SerError, OSError, ValueError, RuntimeError) as exc:
                row["error"] = " ".join(str(exc).split())
            else:
                row.update(emotion=result["emotion"], model=result["model"], **result["probabilities"])
            rows.append(row)
        columns = ["path", "emotion", *self.labels, "model", "error"]
        return pd.DataFrame(rows).reindex(columns=columns)


def gender_inputs(X: np.ndarray, kind: str) -> np.ndarray:
    """Time-averaged vectors ``(n, F)`` of a representation, for the gender classifier.

    ``stats`` ``(n, F)`` as they are; ``frames`` ``(n, T, F)`` and ``mel`` ``(n, M, T)`` averaged over time.
    """
    if kind == "stats":
        return np.asarray(X)
    return np.asarray(X).mean(axis=1 if kind == "frames" else 2)


def expand_paths(paths: Sequence[str | os.PathLike] | Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given, folders walked (sorted) for audio files."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            from .corpora import audio_files

            out.extend(audio_files(path))
        else:
            out.append(path)
    return out
