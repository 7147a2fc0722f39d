"""The ``--gender all`` variants: a gender classifier that routes clips between a male and a female model.

`train_gender_group` publishes the group that ``predict --gender auto`` routes through;
`routed_report` scores the same routing on a cv fold's test clips, beside the mixed model,
so that a cv says whether per-gender models pay (``ser-keras cv --gender all``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..evaluation.report import score
from ..extraction.extract import FeatureSet
from ..extraction.normalize import standardize_groups, transductive
from ..extraction.parts import Part, gender_rows
from ..files import atomic_write_json
from ..layout import GENDER_FILE, GENDER_REPORT_FILE, GROUP_FILE
from ..runs.folders import Staged, load_run, read_sidecar, run_name
from ..runs.inference import gender_inputs, predict_probabilities
from ..runs.model_files import save_estimator

#: The variants ``--gender all`` trains, and the two the classifier routes between.
VARIANTS = ("mixed", "male", "female")
ROUTED = ("male", "female")


def fit_gender_classifier(X: np.ndarray, genders: np.ndarray, *, config, seed: int = 0):
    """A scikit-learn pipeline (z-score -> logistic regression) telling ``male`` from ``female``.

    Parameters
    ----------
    X : np.ndarray [shape=(n, ...)]
        Feature rows of any kind; time-averaged first (`ser_keras.runs.inference.gender_inputs`).
    genders : np.ndarray [shape=(n,)]
        ``male`` or ``female`` per row.
    config : FeatureConfig
    seed : int
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1, random_state=seed))
    return classifier.fit(gender_inputs(X, config), genders)


def _known(part_rows, X):
    keep = part_rows["gender"].isin(ROUTED).to_numpy()
    return np.asarray(X)[keep], part_rows.loc[keep, "gender"].to_numpy()


def train_gender_group(
    fs: FeatureSet, runs: dict[str, Path], *, out_dir: str | os.PathLike = "models", seed: int = 0
) -> Path:
    """Group the runs of ``--gender all`` with a gender classifier that routes clips among them.

    The classifier (`fit_gender_classifier`) is fitted on the train split and scored on
    the test split's speakers.

    Returns
    -------
    group_dir : Path
        Holds ``group.json`` (the three runs, relative), ``gender.skops`` and ``gender_report.json``.
    """
    from sklearn.metrics import balanced_accuracy_score

    def gendered(split):
        part = fs.manifest[fs.manifest["split"] == split].reset_index(drop=True)
        gender_rows(part, "male")  # refuses corpora of unknown gender
        X_all, _ = fs.arrays(split)
        return _known(part, X_all)

    X_train, g_train = gendered("train")
    X_test, g_test = gendered("test")
    classifier = fit_gender_classifier(X_train, g_train, config=fs.features, seed=seed)
    sidecar = read_sidecar(runs["mixed"])
    name = run_name(fs.features.kind, sidecar["model"], "all", f"seed{seed}")
    with Staged(out_dir, name) as group:
        save_estimator(classifier, group.staging / GENDER_FILE)
        report = {
            "balanced_accuracy": float(
                balanced_accuracy_score(g_test, classifier.predict(gender_inputs(X_test, fs.features)))
            ),
            "n_test": int(len(g_test)),
            "classes": [str(c) for c in classifier.classes_],
        }
        atomic_write_json(group.staging / GENDER_REPORT_FILE, report)
        group_file = {
            # relative to the published group folder, a child of out_dir like the staging folder
            "runs": {name: os.path.join("..", os.path.relpath(run, group.out_dir)) for name, run in runs.items()},
            "gender_classifier": GENDER_FILE,
            "features": fs.config["features"],
            "gender_balanced_accuracy": report["balanced_accuracy"],
        }
        atomic_write_json(group.staging / GROUP_FILE, group_file)
    return group.path


def routed_report(fs: FeatureSet, parts: dict[str, Part], runs: dict[str, Path], *, seed: int = 0) -> dict:
    """Score gender routing on a fold's test clips: each clip goes to the model of its predicted gender.

    Parameters
    ----------
    fs : FeatureSet
    parts : dict of str to Part
        The fold's mixed ``train`` and ``test`` parts (`ser_keras.training.cv.fold_parts`); the
        classifier is fitted on ``train``, whose speakers the routed models trained on.
    runs : dict of str to Path
        The fold's ``male`` and ``female`` runs, trained on the same speakers restricted to
        one gender.
    seed : int

    Returns
    -------
    report : dict
        `ser_keras.evaluation.report.score` of the routed predictions on every test clip, with
        ``gender_accuracy`` (share of test clips routed to their speaker's gender) and
        ``routed`` (clips sent to each model).
    """
    train_part, test = parts["train"], parts["test"]
    gender_rows(test.rows, "male")  # refuses corpora of unknown gender
    classifier = fit_gender_classifier(*_known(train_part.rows, train_part.X), config=fs.features, seed=seed)
    to = classifier.predict(gender_inputs(test.X, fs.features))
    X = test.X
    normalize = read_sidecar(runs["male"]).get("normalize", "global")
    if transductive(normalize):  # as the runs' own test scoring
        X = standardize_groups(X, test.rows, normalize, time_axis=fs.features.kind_spec.time_axis)
    probabilities = np.zeros((len(X), len(fs.labels)), dtype=np.float32)
    for gender in ROUTED:
        chosen = to == gender
        if chosen.any():
            _, model = load_run(runs[gender])
            answer = predict_probabilities(model, X[chosen])
            probabilities[np.flatnonzero(chosen), : answer.shape[1]] = answer
    report = score(test.y, probabilities.argmax(axis=1), fs.labels, probabilities=probabilities)
    report["test_speakers"] = sorted(test.rows["speaker"].unique())
    report["gender_accuracy"] = float(np.mean(to == test.rows["gender"].to_numpy()))
    report["routed"] = {gender: int(np.sum(to == gender)) for gender in ROUTED}
    return report
