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
from .runs import GROUP_FILE, load_run, read_json



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
        sidecar, model = load_run(run_dir)
        return cls(run_dir, sidecar, FeatureConfig.from_dict(sidecar["features"]), model)

    @property
    def normalize(self) -> str:
        return self.sidecar.get("normalize", "global")

    def windows(self, y: np.ndarray) -> np.ndarray:
        """Features of the windows of one waveform at ``features.sr``: ``(n_windows, *feature shape)``."""
        return compute(segments(y, config=self.features), config=self.features)

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n, n_labels)`` of feature rows (already speaker-normalised where the run is)."""
        from .train import predict_probabilities

        return predict_probabilities(self.model, X)


class Predictor:
    """Emotion predictions from a run directory (or a ``--gender all`` group).

    A run trained with ``--normalize speaker`` standardises each speaker's features by
    that speaker's own statistics, so it scores a speaker's clips together
    (`predict_speaker`); a single clip cannot be scored by it.

    Examples
    --------
    >>> predictor = Predictor.from_run("models/functionals-dnn-mixed-global-seed0-20261121-101500")  # doctest: +SKIP
    >>> predictor.predict_file("clip.wav")["emotion"]  # doctest: +SKIP
    'angry'
    >>> speaker_run = Predictor.from_run("models/functionals-dnn-mixed-speaker-seed0-20261121-102000")  # doctest: +SKIP
    >>> [r["emotion"] for r in speaker_run.predict_speaker(["a.wav", "b.wav", "c.wav", "d.wav", "e.wav"])]  # doctest: +SKIP
    ['angry', 'sad', 'neutral', 'happy', 'angry']
    """

    def __init__(self, models: dict[str, _Model], *, gender_model=None, gender_features: FeatureConfig | None = None):
        self.models = models
        self.gender_model = gender_model
        self.gender_features = gender_features
        self.labels: list[str] = models["mixed"].sidecar["labels"]
        for name, part in models.items():
            if part.sidecar["labels"] != self.labels:
                raise ParameterError(f"{part.run_dir}: its labels differ from the mixed model's")
        self.normalize: str = models["mixed"].normalize

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
            group = read_json(path / GROUP_FILE, what="run group")
            if not {"runs", "gender_classifier", "features"} <= set(group):
                raise ParameterError(f"{path / GROUP_FILE}: incomplete run group file")
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

    def _prepare(self, waveform: np.ndarray, sr: int, name: str):
        """Validate one waveform; return a function giving it at any sample rate (resampled once per rate)."""
        y = np.asarray(waveform, dtype=np.float32)
        y = to_mono(y.T) if y.ndim == 2 else y
        y = validate(y, sr=sr, min_duration=self.models["mixed"].features.min_duration, name=name)
        resampled: dict[int, np.ndarray] = {}

        def at(rate: int) -> np.ndarray:
            if rate not in resampled:
                resampled[rate] = resample(y, orig_sr=sr, target_sr=rate)
            return resampled[rate]

        return at

    def predict(self, waveform: np.ndarray, sr: int, *, name: str = "<waveform>") -> dict:
        """Predict the emotion of one waveform (runs with global normalisation).

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

        Raises
        ------
        ParameterError
            The run uses speaker normalisation (use `predict_speaker`), or the clip is unusable.
        """
        if self.normalize == "speaker":
            raise ParameterError(
                f"{self.models['mixed'].run_dir}: this run normalises by speaker and scores several clips of one "
                "speaker together (Predictor.predict_speaker, or ser-keras predict on a speaker's folder)"
            )
        return self._score_clip(self._prepare(waveform, sr, name))

    def _score_clip(self, at) -> dict:
        """Route one prepared clip, score its windows and average them (global normalisation)."""
        which = self._route([at]) if self.gender_model is not None else "mixed"
        part = self.models[which]
        X = part.windows(at(part.features.sr))
        return self._result(part.probabilities(X).mean(axis=0), which, len(X))

    def predict_speaker(self, clips: Sequence, *, sr: int | None = None) -> list[dict]:
        """Predict the emotions of several clips of **one** speaker, normalised together.

        With a ``--normalize speaker`` run, the features of every window of every clip
        are standardised by their joint mean and standard deviation (the speaker's
        statistics) before the model; with a ``global`` run each clip is scored alone.

        Parameters
        ----------
        clips : sequence of paths, or of waveforms np.ndarray [shape=(n,)]
        sr : int, optional
            The sample rate of waveform clips (paths are read at the model's).

        Returns
        -------
        results : list of dict
            Per clip, as `predict`, plus ``warning`` (None, or why the speaker's
            statistics are unreliable: fewer than `MIN_SPEAKER_CLIPS` clips).

        Raises
        ------
        ParameterError
            No clips, or a clip that cannot be used (use `predict_files` to skip bad files).
        """
        if len(clips) == 0:
            raise ParameterError("predict_speaker needs at least one clip")
        prepared = []
        for i, clip in enumerate(clips):
            if isinstance(clip, (str, os.PathLike)):
                y = load(clip, sr=self.sr, min_duration=self.models["mixed"].features.min_duration, on_silence="error")
                prepared.append(self._prepare(y, self.sr, str(clip)))
            else:
                if sr is None:
                    raise ParameterError("predict_speaker needs sr= for waveform clips")
                prepared.append(self._prepare(clip, sr, f"<clip {i}>"))
        if self.normalize != "speaker":
            return [{**self._score_clip(at), "warning": None} for at in prepared]
        which = self._route(prepared) if self.gender_model is not None else "mixed"
        part = self.models[which]
        return self._score_speaker(part, which, [part.windows(at(part.features.sr)) for at in prepared])

    def _score_speaker(self, part: _Model, which: str, per_clip: list[np.ndarray]) -> list[dict]:
        """Standardise one speaker's window features jointly, score them, and average per clip."""
        from .normalize import MIN_SPEAKER_CLIPS, standardize_by_speaker

        X = np.concatenate(per_clip)
        owner = np.repeat(np.arange(len(per_clip)), [len(w) for w in per_clip])
        Z = standardize_by_speaker(X, np.zeros(len(X)), time_axis=part.features.kind_spec.time_axis)
        probabilities = part.probabilities(Z)
        warning = (f"only {len(per_clip)} clip(s) of this speaker: speaker normalisation needs at least "
                   f"{MIN_SPEAKER_CLIPS} for reliable statistics" if len(per_clip) < MIN_SPEAKER_CLIPS else None)  # fmt: skip
        return [{**self._result(probabilities[owner == i].mean(axis=0), which, int((owner == i).sum())), "warning": warning}
                for i in range(len(per_clip))]  # fmt: skip

    def _result(self, probabilities: np.ndarray, which: str, n_windows: int) -> dict:
        return {
            "emotion": self.labels[int(np.argmax(probabilities))],
            "probabilities": {label: float(p) for label, p in zip(self.labels, probabilities)},
            "model": which,
            "n_windows": n_windows,
        }

    def _route(self, clips) -> str:
        """``male`` / ``female`` by the gender classifier over one or more clips, ``mixed`` when it is unsure."""
        config = self.gender_features
        X = np.concatenate([compute(segments(at(config.sr), config=config), config=config) for at in clips])
        proba = self.gender_model.predict_proba(gender_inputs(X, config)).mean(axis=0)
        best = int(np.argmax(proba))
        return str(self.gender_model.classes_[best]) if proba[best] >= 0.6 else "mixed"

    def predict_file(self, path: str | os.PathLike) -> dict:
        """`predict` on an audio file (read whole, at the model's sample rate)."""
        y = load(path, sr=self.sr, min_duration=self.models["mixed"].features.min_duration, on_silence="error")
        return self.predict(y, self.sr, name=str(path))

    def predict_files(self, paths: Iterable[str | os.PathLike], *, speakers: dict[str, str] | None = None) -> pd.DataFrame:
        """One row per file: ``path``, ``emotion``, one probability column per emotion, ``model``, ``error``.

        Folders are walked for audio files; a file that cannot be used gets its error in
        its row and the others go on.  A ``--normalize speaker`` run scores each
        speaker's files together: a file's speaker is ``speakers[path]`` when given, else
        its parent folder; the rows get ``speaker`` and ``warning`` columns.
        """
        files = expand_paths(paths)
        rows = {str(path): {"path": str(path), "emotion": None, "model": None, "error": None} for path in files}

        def attempt(row, call):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return call()
            except (SerError, OSError, ValueError, RuntimeError) as exc:
                row["error"] = " ".join(str(exc).split())
                return None

        if self.normalize != "speaker":
            for path in files:
                result = attempt(rows[str(path)], lambda: self.predict_file(path))
                if result is not None:
                    rows[str(path)].update(emotion=result["emotion"], model=result["model"], **result["probabilities"])
            columns = ["path", "emotion", *self.labels, "model", "error"]
            return pd.DataFrame(list(rows.values())).reindex(columns=columns)
        groups: dict[str, list[Path]] = {}
        for path in files:
            speaker = (speakers or {}).get(str(path)) or str(path.parent)
            rows[str(path)]["speaker"] = speaker
            groups.setdefault(speaker, []).append(path)
        for group in groups.values():
            prepared = {}
            for path in group:
                at = attempt(rows[str(path)], lambda path=path: self._prepare(
                    load(path, sr=self.sr, min_duration=self.models["mixed"].features.min_duration, on_silence="error"),
                    self.sr, str(path)))  # fmt: skip
                if at is not None:
                    prepared[path] = at
            if not prepared:
                continue
            which = self._route(list(prepared.values())) if self.gender_model is not None else "mixed"
            part = self.models[which]
            features = {}
            for path, at in prepared.items():
                X = attempt(rows[str(path)], lambda at=at: part.windows(at(part.features.sr)))
                if X is not None:
                    features[path] = X
            if not features:
                continue
            for path, result in zip(features, self._score_speaker(part, which, list(features.values()))):
                rows[str(path)].update(emotion=result["emotion"], model=result["model"], warning=result["warning"],
                                       **result["probabilities"])  # fmt: skip
        columns = ["path", "speaker", "emotion", *self.labels, "model", "warning", "error"]
        return pd.DataFrame(list(rows.values())).reindex(columns=columns)

def gender_inputs(X: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Time-averaged vectors ``(n, F)`` of a representation, for the gender classifier.

    Vector kinds ``(n, F)`` as they are; ``frames`` ``(n, T, F)`` and ``mel`` ``(n, M, T)``
    averaged over their time axis (`FeatureKind.time_axis`).
    """
    time_axis = config.kind_spec.time_axis
    return np.asarray(X) if time_axis is None else np.asarray(X).mean(axis=1 + time_axis)


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
