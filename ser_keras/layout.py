"""The files of a run folder, a cv folder and a ``--gender all`` group, named once.

Every module that writes or reads one of these files takes its name from here, so a
run folder means one thing everywhere.  A run folder holds::

    run.json              the sidecar: labels, feature config, split speakers, seed, versions
    report.json           UA, WA, macro-F1, per-class recall, confusion matrix, test speakers
    predictions.csv       the test rows' probabilities (the cv's calibration is fitted on them)
    typicality.npz        how far a clip lies from the training features (runs of utterance features)
    confusion_matrix.png  curves.png (Keras and MLP runs)   history.csv   logs/ (TensorBoard)
    model.keras | model.skops   saved_model/   model.tflite, waveform.tflite (ser-keras export)
    recipe.yaml           the options that made it (replayed by --config)
    MODEL_CARD.md         data and licences, split, scores, intended use and limits
    eval-test/, eval-<corpus>/   each ser-keras evaluate (report.json, confusion_matrix.png)

A cv folder holds ``fold-1/`` ... (runs; with ``--gender all`` also ``fold-1-male/``,
``fold-1-female/`` and ``fold-1-routed.json``), ``cv.json``, ``cv.png``, ``recipe.yaml`` and ``MODEL_CARD.md``; a
group holds ``group.json``, ``gender.skops`` and ``gender_report.json``.

Examples
--------
>>> RunFolder("models/run").report
PosixPath('models/run/report.json')
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

RUN_FILE = "run.json"
REPORT_FILE = "report.json"
CONFUSION_FILE = "confusion_matrix.png"
#: The test rows' probabilities: ``path``, ``speaker``, ``true`` (label index), one column per label.
PREDICTIONS_FILE = "predictions.csv"
#: The column of ``predictions.csv`` holding each clip's `ser_keras.models.typicality.Typicality.distance`.
DISTANCE_COLUMN = "distance"
#: How far a clip lies from the training features (`ser_keras.models.typicality`): runs of utterance features.
TYPICALITY_FILE = "typicality.npz"
CURVES_FILE = "curves.png"
HISTORY_FILE = "history.csv"
LOGS_DIR = "logs"
KERAS_MODEL_FILE = "model.keras"
#: A scikit-learn run's model (a skops file, not a pickle).
ESTIMATOR_FILE = "model.skops"
SAVED_MODEL_DIR = "saved_model"
#: ``ser-keras export``: the feature-array model, and the raw-waveform model of kinds with a graph form.
LITERT_FILE = "model.tflite"
WAVEFORM_FILE = "waveform.tflite"
RECIPE_FILE = "recipe.yaml"
#: What the run is, its data and licences, its scores and what not to use it for (`ser_keras.runs.model_card`).
MODEL_CARD_FILE = "MODEL_CARD.md"
#: Prefix of the folders ``ser-keras evaluate`` writes inside a run.
EVAL_PREFIX = "eval-"
CV_FILE = "cv.json"
CV_PLOT = "cv.png"
#: ``ser-keras evaluate --shift``: the folder written inside a run or cv folder, and its files.
ROBUSTNESS_DIR = "robustness"
ROBUSTNESS_FILE = "robustness.json"
ROBUSTNESS_TABLE = "robustness.csv"
ROBUSTNESS_PLOT = "robustness.png"
#: In an unfinished cv folder: what it is the cv of, so that a rerun can carry on in it; and its lock.
RESUME_FILE = "cv-resume.json"
LOCK_FILE = ".lock"
GROUP_FILE = "group.json"
#: The run shipped inside the package (``waveform.tflite``, ``run.json``, ``MODEL_CARD.md``, ``LICENSE``):
#: ``ser-keras predict clip.wav`` and ``Predictor.pretrained()`` answer with it.
PRETRAINED_RUN = Path(__file__).parent / "pretrained" / "ravdess"
GENDER_FILE = "gender.skops"
GENDER_REPORT_FILE = "gender_report.json"
#: Pickles that earlier versions wrote; refused, never loaded.
PICKLE_FILES = ("model.joblib", "gender.joblib")


def fold_name(k: int, gender: str | None = None) -> str:
    """The run folder of cv fold ``k`` (0-based), or of its ``gender`` variant with ``--gender all``."""
    return f"fold-{k + 1}" if gender is None else f"fold-{k + 1}-{gender}"


def is_fold_run(name: str) -> bool:
    """Whether ``name`` is a cv fold's own run folder (`fold_name` without a gender variant)."""
    prefix, _, number = name.partition("-")
    return prefix == "fold" and number.isdigit()


def fold_runs(cv_dir: str | os.PathLike) -> list[Path]:
    """A cv folder's fold runs (``fold-1``, ``fold-2`` ...; not their gender variants), in fold order."""
    folds = [p for p in Path(cv_dir).iterdir() if p.is_dir() and is_fold_run(p.name)]
    return sorted(folds, key=lambda p: int(p.name.partition("-")[2]))


def routed_name(k: int) -> str:
    """The report of cv fold ``k``'s gender-routed male and female models (``--gender all``)."""
    return f"fold-{k + 1}-routed.json"


@dataclass(frozen=True)
class RunFolder:
    """The paths of one run folder's files (whether or not they exist yet)."""

    path: Path

    def __init__(self, path: str | os.PathLike):
        object.__setattr__(self, "path", Path(path))

    @property
    def sidecar(self) -> Path:
        return self.path / RUN_FILE

    @property
    def report(self) -> Path:
        return self.path / REPORT_FILE

    @property
    def keras_model(self) -> Path:
        return self.path / KERAS_MODEL_FILE

    @property
    def estimator(self) -> Path:
        return self.path / ESTIMATOR_FILE

    @property
    def saved_model(self) -> Path:
        return self.path / SAVED_MODEL_DIR

    @property
    def litert(self) -> Path:
        return self.path / LITERT_FILE

    @property
    def waveform_litert(self) -> Path:
        return self.path / WAVEFORM_FILE

    @property
    def history(self) -> Path:
        return self.path / HISTORY_FILE

    @property
    def logs(self) -> Path:
        return self.path / LOGS_DIR

    @property
    def recipe(self) -> Path:
        return self.path / RECIPE_FILE
