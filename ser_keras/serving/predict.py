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

import itertools
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ParameterError, SerError, SerWarning
from ..extraction.jit_cache import first_use
from ..extraction.normalize import transductive
from ..features.registry import FeatureConfig, compute
from ..files import no_memory, out_of_memory
from ..layout import GROUP_FILE, PRETRAINED_RUN, RUN_FILE, WAVEFORM_FILE
from ..runs.folders import load_run, load_typicality, n_features_of, read_json, read_sidecar, refuse_pickle
from ..runs.inference import gender_inputs
from ..runs.model_files import GENDER_CLASSIFIER, load_estimator
from ..signal.audio import SILENCE_PEAK, check_readable, load, pcm_to_float, resample, stream, to_mono, validate
from ..signal.windows import segments, stream_windows

if TYPE_CHECKING:
    import pandas as pd

#: Files longer than this are read, resampled and scored block by block (`Predictor.predict_file`).
STREAM_SECONDS = 60.0
#: Windows featurised and scored together.
WINDOW_BATCH = 16
#: The answer when the top probability is below the run's ``min_confidence``.
UNCERTAIN = "uncertain"


def _seconds(path: str | os.PathLike) -> float:
    """Duration of an audio file from its header or ffprobe; 0 when it cannot be read (`load` then says why)."""
    from ..signal.audio import duration

    try:
        return duration(path)
    except ParameterError:
        return 0.0


def _features(signals: list[np.ndarray], *, config: FeatureConfig) -> np.ndarray:
    """`compute`, the first time per feature kind under `first_use` (numba's cache, one process at a time)."""
    with first_use(("features", config.kind)):
        return compute(signals, config=config)


@dataclass
class _Model:
    """One trained run: its sidecar, feature config and model."""

    run_dir: Path
    sidecar: dict
    features: FeatureConfig
    model: object
    waveform_model: object = None
    typicality: object = None

    @classmethod
    def load(cls, run_dir: Path) -> _Model:
        """A run folder's model: ``waveform.tflite`` alone where it answers every clip of the run
        (a whole-clip kind, global normalisation: no feature code and no other model file is
        needed, as in the shipped model), else ``model.tflite``, ``model.keras`` or ``model.skops``."""
        sidecar = read_sidecar(run_dir)
        features = FeatureConfig.from_dict(sidecar["features"])
        whole_clip = features.duration is None  # the file's window is the clip (fixed windows are cut here)
        if (run_dir / WAVEFORM_FILE).is_file() and whole_clip and not transductive(sidecar.get("normalize", "global")):
            from ..runs.litert import WaveformModel

            waveform_model = WaveformModel(run_dir / WAVEFORM_FILE)  # audio in: no feature code runs here
            if waveform_model.labels != sidecar["labels"] or waveform_model.sr != features.sr:
                raise ParameterError(f"{run_dir / WAVEFORM_FILE}: its labels or sample rate differ from run.json")
            return cls(run_dir, sidecar, features, None, waveform_model)
        sidecar, model = load_run(run_dir, litert=True)  # model.tflite, when exported, spares importing TensorFlow
        return cls(run_dir, sidecar, features, model, typicality=load_typicality(run_dir, features))

    @property
    def normalize(self) -> str:
        return self.sidecar.get("normalize", "global")

    def windows(self, y: np.ndarray) -> np.ndarray:
        """Features of the windows of one waveform at ``features.sr``: ``(n_windows, *feature shape)``."""
        return _features(segments(y, config=self.features), config=self.features)

    @property
    def max_distance(self) -> float | None:
        """Above this mean `distances` the answer is `UNCERTAIN` (None: no check): ``waveform.tflite``'s
        contract holds it, other runs' ``run.json``."""
        if self.waveform_model is not None:
            value = self.waveform_model.contract.get("max_distance")
        else:
            value = (self.sidecar.get("calibration") or {}).get("max_distance") if self.typicality else None
        return None if value is None else float(value)

    def score_windows(self, windows: Iterable[np.ndarray]) -> tuple[np.ndarray, int, float | None]:
        """Summed class probabilities ``(n_labels,)`` of windows (global runs), how many there were, and
        their summed `distances` (None for a run without typicality).

        Windows are featurised and scored `WINDOW_BATCH` at a time, so a long recording
        never holds more than one batch of features.
        """
        if self.waveform_model is not None:
            return self._score_waveforms(windows)
        total, count, batch, distance = np.zeros(len(self.sidecar["labels"])), 0, [], 0.0
        for window in itertools.chain(windows, [None]):
            if window is not None:
                batch.append(window)
            if batch and (window is None or len(batch) == WINDOW_BATCH):
                X = _features(batch, config=self.features)
                total += self.probabilities(X).sum(axis=0)
                found = self.distances(X)
                distance = None if found is None or distance is None else distance + float(found.sum())
                count += len(batch)
                batch = []
        return total, count, distance

    def _score_waveforms(self, windows: Iterable[np.ndarray]) -> tuple[np.ndarray, int, float | None]:
        """`score_windows` by ``waveform.tflite``: each window's audio in, its probabilities out."""
        from ..features.functionals import MIN_SOUND_SECONDS
        from ..features.utterance_graph import UTTERANCE_KINDS

        total, count, distance = np.zeros(len(self.sidecar["labels"])), 0, 0.0
        for window in windows:
            outputs = self.waveform_model(window)
            if self.features.kind in UTTERANCE_KINDS and outputs["sound_seconds"] < MIN_SOUND_SECONDS:
                raise ParameterError(
                    f"too short for {self.features.kind} ({outputs['sound_seconds']:.3f} s after trimming silence)"
                )
            total += outputs["probabilities"]
            distance = None if outputs["distance"] is None or distance is None else distance + outputs["distance"]
            count += 1
        return total, count, distance

    def distances(self, X: np.ndarray) -> np.ndarray | None:
        """`ser_keras.models.typicality.Typicality.distance` of feature rows ``(n,)`` (None without typicality)."""
        return None if self.typicality is None else self.typicality.distance(X)

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n, n_labels)`` of feature rows (already speaker-normalised where the run is)."""
        from ..runs.inference import predict_probabilities

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
    >>> clips = ["a.wav", "b.wav", "c.wav", "d.wav", "e.wav"]
    >>> [r["emotion"] for r in speaker_run.predict_speaker(clips)]  # doctest: +SKIP
    ['angry', 'sad', 'neutral', 'happy', 'angry']
    """

    def __init__(
        self,
        models: dict[str, _Model],
        *,
        gender_model=None,
        gender_features: FeatureConfig | None = None,
        min_confidence: float | None = None,
    ):
        self.models = models
        self.gender_model = gender_model
        self.gender_features = gender_features
        self.labels: list[str] = models["mixed"].sidecar["labels"]
        for part in models.values():
            if part.sidecar["labels"] != self.labels:
                raise ParameterError(f"{part.run_dir}: its labels differ from the mixed model's")
        self.normalize: str = models["mixed"].normalize
        if min_confidence is None:  # the run's own, chosen on held-out speakers; 0 for runs without one
            min_confidence = (models["mixed"].sidecar.get("calibration") or {}).get("min_confidence") or 0.0
        if not 0.0 <= min_confidence <= 1.0:
            raise ParameterError(f"--min-confidence must be between 0 and 1, got {min_confidence}")
        #: Below this top probability the answer is `UNCERTAIN` (the best guess stays in ``best_guess``).
        self.min_confidence: float = float(min_confidence)
        #: Why this model's answers on real speech mean nothing (trained on the synthetic demo corpus), or None.
        self.demo_warning: str | None = None
        if any(str(c).split("=")[0] == "demo" for c in models["mixed"].sidecar.get("corpora", [])):
            self.demo_warning = (
                f"{models['mixed'].run_dir} was trained on the synthetic demo corpus: its answers on real speech "
                "mean nothing (without a run, ser-keras predict answers with the model shipped with the package)"
            )
            warnings.warn(self.demo_warning, SerWarning, stacklevel=3)

    @classmethod
    def from_run(
        cls, path: str | os.PathLike, *, gender: str = "mixed", min_confidence: float | None = None
    ) -> Predictor:
        """Load a run directory, or a ``--gender all`` group folder.

        Parameters
        ----------
        path : path
        gender : {'mixed', 'male', 'female', 'auto'}
            With a group: which model answers; ``auto`` routes each clip by the gender
            classifier.  A single run directory answers whatever its gender.
        min_confidence : float in [0, 1], optional
            Answer `UNCERTAIN` below this top probability (default: the run's own threshold,
            chosen on held-out speakers, ``run.json`` ``calibration``; 0 answers always).
        """
        from .. import tflog

        tflog.install()  # a Keras run imports TensorFlow: its native start-up lines stay off the terminal
        path = Path(path)
        if (path / GROUP_FILE).is_file():
            group = read_json(path / GROUP_FILE, what="run group")
            runs = _group_members(path, group)
            models = {name: _Model.load(run) for name, run in runs.items()}
            if gender in ("male", "female", "mixed"):
                return cls({"mixed": models[gender]}, min_confidence=min_confidence)
            if gender != "auto":
                raise ParameterError(f"unknown gender {gender!r}; choose mixed, male, female or auto")
            classifier = path / group["gender_classifier"]
            if not classifier.exists():
                refuse_pickle(path)
            try:
                gender_features = FeatureConfig.from_dict(group["features"])
            except ParameterError as exc:
                raise ParameterError(f"{path / GROUP_FILE}: {exc}") from None
            gender_model = load_estimator(
                classifier,
                model=GENDER_CLASSIFIER,
                n_features=n_features_of(gender_features, time_averaged=True),
                n_labels=2,
            )
            return cls(
                models, gender_model=gender_model, gender_features=gender_features, min_confidence=min_confidence
            )
        if gender != "mixed":
            raise ParameterError(f"{path}: --gender {gender} needs a --gender all run group; this is a single run")
        return cls({"mixed": _Model.load(path)}, min_confidence=min_confidence)

    @classmethod
    def pretrained(cls, *, min_confidence: float | None = None) -> Predictor:
        """The model shipped with the package: the default recipe trained on RAVDESS (its
        ``MODEL_CARD.md`` says how it was made, how well it does and what not to use it for).

        Its weights derive from RAVDESS and are licensed CC BY-NC-SA 4.0 (``LICENSE`` beside them).

        Parameters
        ----------
        min_confidence : float in [0, 1], optional
            As in `from_run` (default: the threshold shipped with it).
        """
        if not (PRETRAINED_RUN / RUN_FILE).is_file():
            raise ParameterError(f"{PRETRAINED_RUN}: the shipped model is missing from this installation")
        return cls.from_run(PRETRAINED_RUN, min_confidence=min_confidence)

    @property
    def sr(self) -> int:
        """Sample rate the features are computed at."""
        return self.models["mixed"].features.sr

    def _prepare(self, waveform: np.ndarray, sr: int, name: str):
        """Validate one waveform; return a function giving it at any sample rate (resampled once per rate)."""
        y = pcm_to_float(waveform).astype(np.float32, copy=False)
        y = to_mono(y.T) if y.ndim == 2 else y
        y = validate(y, sr=sr, min_duration=self.models["mixed"].features.min_duration, name=name, on_silence="error")
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
            Float samples in ``[-1, 1]``, or integer PCM (``int16``, ``int32``, ``uint8``),
            scaled by its full scale (`ser_keras.signal.audio.pcm_to_float`).
        sr : int
            Its sample rate; it is resampled to the model's.
        name : str
            Named in errors.

        Returns
        -------
        result : dict
            ``emotion`` (str: the most probable, or `UNCERTAIN` when its probability is below
            ``min_confidence``), ``best_guess`` (the most probable), ``confidence`` (its
            probability), ``probabilities`` (emotion -> float), ``gender_model`` (which
            model of a ``--gender all`` group answered: ``mixed``, ``male`` or ``female``;
            ``mixed`` for a single run), ``n_windows`` and ``input_warnings`` (list of str: why
            the clip is unlike the speech the model was trained on, `input_warnings`).

        Raises
        ------
        ParameterError
            The run uses speaker normalisation (use `predict_speaker`), or the clip is unusable:
            empty, non-finite, too short, or silent (peak below `ser_keras.signal.audio.SILENCE_PEAK`,
            -80 dBFS; the SavedModel's waveform signatures refuse it too).
        """
        if self.normalize == "speaker":
            raise ParameterError(
                f"{self.models['mixed'].run_dir}: this run normalises by speaker and scores several clips of one "
                "speaker together (Predictor.predict_speaker, or ser-keras predict on a speaker's folder)"
            )
        if self.normalize == "corpus":
            raise ParameterError(
                f"{self.models['mixed'].run_dir}: this run normalises by corpus and scores a batch of clips from one "
                "place together (Predictor.predict_speaker, or ser-keras predict on the files together)"
            )
        return self._score_clip(self._prepare(waveform, sr, name))

    def _score_clip(self, at) -> dict:
        """Route one prepared clip, score its windows and average them (global normalisation)."""
        which = self._route([at]) if self.gender_model is not None else "mixed"
        part = self.models[which]
        total, count, distance = part.score_windows(segments(at(part.features.sr), config=part.features))
        result = {**self._result(total / count, which, count), "input_warnings": self.input_warnings(at(self.sr))}
        return self._unfamiliar(result, part, None if distance is None else distance / count)

    def _unfamiliar(self, result: dict, part: _Model, distance: float | None) -> dict:
        """``result`` with its ``distance``, answered `UNCERTAIN` with the reason among its input warnings
        where the clip lies farther from the training features than 95 % of clips of unseen speakers do
        (`_Model.max_distance`)."""
        limit = part.max_distance
        result = {**result, "distance": None if distance is None else round(distance, 4)}
        if distance is None or limit is None or distance <= limit:
            return result
        reason = (
            f"unlike the speech the model was trained on: distance {distance:.2f} from its training clips "
            f"(95% of clips of speakers it never met are within {limit:.2f})"
        )
        return {**result, "emotion": UNCERTAIN, "input_warnings": [*result["input_warnings"], reason]}

    def input_warnings(self, y: np.ndarray) -> list[str]:
        """Why a clip at the model's rate is unlike the speech it was trained on
        (`ser_keras.signal.quality.input_warnings`, with the run's shortest training clip)."""
        from ..signal.quality import input_warnings

        shortest = (self.models["mixed"].sidecar.get("input_range") or {}).get("shortest_sound_seconds")
        return input_warnings(y, sr=self.sr, shortest_speech=shortest)

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
        if not transductive(self.normalize):
            return [{**self._score_clip(at), "warning": None} for at in prepared]
        which = self._route(prepared) if self.gender_model is not None else "mixed"
        part = self.models[which]
        return self._score_speaker(part, which, [part.windows(at(part.features.sr)) for at in prepared])

    def predict_segments(self, clip, *, sr: int | None = None, mode: str = "energy", **options):
        """One row per speech segment (or fixed window) of a long recording: `ser_keras.serving.timeline`.

        ``clip`` is a path or a waveform (with ``sr``); ``mode`` and ``options`` (``window``, ``hop``,
        ``top_db``) as `ser_keras.serving.timeline.predict_timeline`, which gives the table it returns.
        """
        from .timeline import count_fixed_segments, fixed_window, predict_timeline

        if not isinstance(clip, (str, os.PathLike)):
            if sr is None:
                raise ParameterError("predict_segments needs sr= for a waveform")
            return predict_timeline(self, clip, sr, mode=mode, **options)
        check_readable(clip)
        features = self.models["mixed"].features
        try:
            if mode == "fixed":  # bounded from the header, before the recording is read
                window, hop = fixed_window(features, window=options.get("window"), hop=options.get("hop"))
                count_fixed_segments(int(_seconds(clip) * self.sr), sr=self.sr, window=window, hop=hop)
            y = load(clip, sr=self.sr, min_duration=features.min_duration, on_silence="error")
            return predict_timeline(self, y, self.sr, mode=mode, **options)
        except ParameterError as exc:
            message = str(exc)
            raise ParameterError(message if message.startswith(str(clip)) else f"{clip}: {message}") from None

    def _score_speaker(self, part: _Model, which: str, per_clip: list[np.ndarray]) -> list[dict]:
        """Standardise one speaker's window features jointly, score them, and average per clip."""
        from ..extraction.normalize import MIN_SPEAKER_CLIPS, standardize_by_speaker

        X = np.concatenate(per_clip)
        owner = np.repeat(np.arange(len(per_clip)), [len(w) for w in per_clip])
        Z = standardize_by_speaker(X, np.zeros(len(X)), time_axis=part.features.kind_spec.time_axis)
        probabilities = part.probabilities(Z)
        warning = (
            f"only {len(per_clip)} clip(s) of this speaker: speaker normalisation needs at least "
            f"{MIN_SPEAKER_CLIPS} for reliable statistics"
            if len(per_clip) < MIN_SPEAKER_CLIPS
            else None
        )
        return [
            {**self._result(probabilities[owner == i].mean(axis=0), which, int((owner == i).sum())), "warning": warning}
            for i in range(len(per_clip))
        ]

    def _result(self, probabilities: np.ndarray, which: str, n_windows: int) -> dict:
        if not np.isfinite(probabilities).all():  # a damaged model: never "uncertain" or an arg-max of NaN
            raise ParameterError(f"{self.models[which].run_dir}: the model gave non-finite probabilities (NaN or inf)")
        best = int(np.argmax(probabilities))
        confidence = float(probabilities[best])
        return {
            "emotion": self.labels[best] if confidence >= self.min_confidence else UNCERTAIN,
            "best_guess": self.labels[best],
            "confidence": confidence,
            "probabilities": {label: float(p) for label, p in zip(self.labels, probabilities)},
            "gender_model": which,
            "n_windows": n_windows,
        }

    def _route(self, clips) -> str:
        """``male`` / ``female`` by the gender classifier over one or more clips, ``mixed`` when it is unsure."""
        config = self.gender_features
        X = np.concatenate([_features(segments(at(config.sr), config=config), config=config) for at in clips])
        proba = self.gender_model.predict_proba(gender_inputs(X, config)).mean(axis=0)
        best = int(np.argmax(proba))
        return str(self.gender_model.classes_[best]) if proba[best] >= 0.6 else "mixed"

    def predict_file(self, path: str | os.PathLike) -> dict:
        """`predict` on an audio file, read at the model's sample rate.

        A file longer than `STREAM_SECONDS` (with a global run) is read, resampled and
        scored block by block (`ser_keras.signal.audio.stream`, `stream_windows`), so memory stays
        flat however long it is; the result equals reading it whole, up to float rounding.
        """
        check_readable(path)  # before anything opens it: a FIFO would block
        if transductive(self.normalize) or _seconds(path) <= STREAM_SECONDS:
            y = load(path, sr=self.sr, min_duration=self.models["mixed"].features.min_duration, on_silence="error")
            return self.predict(y, self.sr, name=str(path))
        return self._predict_stream(path)

    def _predict_stream(self, path: str | os.PathLike) -> dict:
        peak = 0.0

        def checked(blocks):
            nonlocal peak
            for block in blocks:
                if not np.isfinite(block).all():
                    raise ParameterError(f"{path}: audio holds non-finite samples (NaN or inf)")
                peak = max(peak, float(np.abs(block).max()))
                yield block

        blocks = checked(stream(path, sr=self.sr, block_seconds=STREAM_SECONDS / 2))
        first = next(blocks)
        found = self.input_warnings(first) if np.abs(first).max() >= SILENCE_PEAK else []
        which = "mixed"
        if self.gender_model is not None:  # routed by the first block
            which = self._route([lambda rate: resample(first, orig_sr=self.sr, target_sr=rate)])
        part = self.models[which]
        audio = itertools.chain([first], blocks)
        if part.features.sr != self.sr:
            audio = (resample(block, orig_sr=self.sr, target_sr=part.features.sr) for block in audio)
        total, count, distance = part.score_windows(stream_windows(audio, config=part.features))
        if peak < SILENCE_PEAK:
            raise ParameterError(f"{path}: audio is silent (peak below -80 dBFS)")
        result = {**self._result(total / count, which, count), "input_warnings": found}
        return self._unfamiliar(result, part, None if distance is None else distance / count)

    def predict_files(
        self, paths: Iterable[str | os.PathLike], *, speakers: dict[str, str] | None = None
    ) -> pd.DataFrame:
        """One row per file: ``path``, ``emotion``, one probability column per emotion, ``model``, ``error``.

        Folders are walked for audio files; a file that cannot be used gets its error in
        its row and the others go on.  A ``--normalize speaker`` run scores each
        speaker's files together: a file's speaker is ``speakers[path]`` when given, else
        its parent folder; the rows get ``speaker`` and ``warning`` columns.
        """
        import pandas as pd

        rows, columns = self.predict_records(paths, speakers=speakers)
        return pd.DataFrame(rows, columns=columns)

    def predict_records(
        self, paths: Iterable[str | os.PathLike], *, speakers: dict[str, str] | None = None
    ) -> tuple[list[dict], list[str]]:
        """`predict_files`'s rows as dicts (None where its table has NaN) and its columns, without pandas: what a
        cold ``ser-keras predict`` prints."""
        files = expand_paths(paths)
        rows = {str(path): {"path": str(path), "emotion": None, "gender_model": None, "error": None} for path in files}

        def attempt(row, call):
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    return call()
            except (SerError, OSError, ValueError, RuntimeError, MemoryError) as exc:
                if out_of_memory(exc):  # not this file's fault: every other file would fail the same way
                    raise no_memory(f"scoring {row['path']}") from None
                row["error"] = " ".join(str(exc).split())
                return None
            finally:  # ours (an overloaded clip) reach the caller; library chatter does not
                for warning in caught:
                    if issubclass(warning.category, SerWarning):
                        warnings.warn(warning.message, SerWarning, stacklevel=3)

        if not transductive(self.normalize):
            for path in files:
                result = attempt(rows[str(path)], lambda path=path: self.predict_file(path))
                if result is not None:
                    rows[str(path)].update(
                        emotion=result["emotion"],
                        best_guess=result["best_guess"],
                        gender_model=result["gender_model"],
                        warning="; ".join(result["input_warnings"]) or None,
                        **result["probabilities"],
                    )
            columns = ["path", "emotion", "best_guess", *self.labels, "gender_model", "warning", "error"]
            return [{c: row.get(c) for c in columns} for row in rows.values()], columns
        groups: dict[str, list[Path]] = {}
        for path in files:
            # a speaker run's default batch is a file's folder; a corpus run's, every file given
            speaker = (speakers or {}).get(str(path)) or (str(path.parent) if self.normalize == "speaker" else "all")
            rows[str(path)]["speaker"] = speaker
            groups.setdefault(speaker, []).append(path)
        for group in groups.values():
            prepared = {}
            for path in group:
                at = attempt(
                    rows[str(path)],
                    lambda path=path: self._prepare(
                        load(
                            path,
                            sr=self.sr,
                            min_duration=self.models["mixed"].features.min_duration,
                            on_silence="error",
                        ),
                        self.sr,
                        str(path),
                    ),
                )
                if at is not None:
                    prepared[path] = at
            if not prepared:
                continue
            which = self._route(list(prepared.values())) if self.gender_model is not None else "mixed"
            part = self.models[which]
            features = {}
            for path, at in prepared.items():
                X = attempt(rows[str(path)], lambda at=at, part=part: part.windows(at(part.features.sr)))
                if X is not None:
                    features[path] = X
            if not features:
                continue
            for path, result in zip(features, self._score_speaker(part, which, list(features.values()))):
                rows[str(path)].update(
                    emotion=result["emotion"],
                    best_guess=result["best_guess"],
                    gender_model=result["gender_model"],
                    warning=result["warning"],
                    **result["probabilities"],
                )
        columns = ["path", "speaker", "emotion", "best_guess", *self.labels, "gender_model", "warning", "error"]
        return [{c: row.get(c) for c in columns} for row in rows.values()], columns


def _group_members(path: Path, group: dict) -> dict[str, Path]:
    """The run folders a ``group.json`` names, checked: each is a sibling of the group folder,
    and the gender classifier is a file of the group folder itself (nothing outside is read)."""
    source = path / GROUP_FILE
    if not {"runs", "gender_classifier", "features"} <= set(group):
        raise ParameterError(f"{source}: incomplete run group file")
    runs, classifier = group["runs"], group["gender_classifier"]
    if not isinstance(runs, dict) or "mixed" not in runs or not set(runs) <= {"mixed", "male", "female"}:
        raise ParameterError(f"{source}: runs: expected mixed, male and female run folders, got {runs!r:.60}")
    if not isinstance(classifier, str) or Path(classifier).name != classifier or classifier in ("", ".", ".."):
        raise ParameterError(
            f"{source}: gender_classifier: expected a file name in the group folder, got {classifier!r:.60}"
        )
    members = {}
    for name, relative in runs.items():
        parts = Path(str(relative)).parts
        if not isinstance(relative, str) or len(parts) != 2 or parts[0] != ".." or parts[1] in ("..", "."):
            raise ParameterError(
                f"{source}: runs.{name}: expected ../RUN (a run beside the group), got {relative!r:.60}"
            )
        members[name] = path / relative
    return members


def expand_paths(paths: Sequence[str | os.PathLike] | Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given, folders walked (sorted) for audio files."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            from ..data.corpora import audio_files

            out.extend(audio_files(path))
        else:
            out.append(path)
    return out
