"""The train stage: a feature set -> a run directory with a trained, evaluated, exported model.

`TrainOptions` holds the recipe's training options; `train` checks them against the
model's spec (`ser_keras.models.ModelSpec`), fits a Keras model
(`ser_keras.training.fit_keras`, inside a ``tf.distribute`` strategy, `ser_keras.training.strategies`) or
a scikit-learn baseline (`ser_keras.training.fit_sklearn`) on the data of `ser_keras.extraction.parts`,
scores it on the test split and publishes the run folder atomically.

Validation is the speaker-independent ``val`` split, never ``test``; the z-score
normalisation is fitted on the training rows only and lives inside the model.

A run directory holds ``model.keras`` (or ``model.skops`` for scikit-learn baselines),
``saved_model/`` (``model.export``), ``run.json`` (labels, feature config, split speakers,
seed, versions), ``history.csv``, ``logs/`` (TensorBoard), ``report.json``,
``confusion_matrix.png`` and ``curves.png``.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .. import __version__
from ..data.corpora import corpus_names
from ..errors import ParameterError
from ..evaluation.report import calibration_figures, score, write_report
from ..extraction.extract import FeatureSet
from ..extraction.normalize import transductive
from ..extraction.parts import Part, load_split, normalize_parts
from ..features.registry import KINDS
from ..files import atomic_write_json
from ..layout import (
    DISTANCE_COLUMN,
    KERAS_MODEL_FILE,
    PREDICTIONS_FILE,
    RUN_FILE,
    SAVED_MODEL_DIR,
    TYPICALITY_FILE,
)
from ..models import get_spec
from ..provenance import library_versions
from ..runs.folders import (
    Staged,
    published_name,
    run_name,
)
from ..runs.model_card import write_model_card
from .fit_keras import fit_keras
from .fit_sklearn import fit_sklearn
from .options import TrainOptions
from .strategies import is_chief


def train(
    fs: FeatureSet,
    *,
    gender: str = "mixed",
    out_dir: str | os.PathLike = "models",
    options: TrainOptions | None = None,
    strategy=None,
    progress: bool = True,
    parts: dict[str, Part] | None = None,
    name: str | None = None,
    recipe: dict | None = None,
    calibration: dict | None = None,
) -> Path:
    """Train one gender variant on a feature set, evaluate it on its test split, export it.

    Parameters
    ----------
    fs : FeatureSet
    gender : {'mixed', 'male', 'female'}
    out_dir : path
        Parent of the run folder, which is built hidden and published atomically (`ser_keras.runs.folders`).
    options : TrainOptions
    parts : dict of Part, optional
        ``train`` / ``val`` / ``test`` data to use instead of the feature set's own splits
        (cross-validation folds); features as stored, before ``options.normalize``.
    name : str, optional
        The run folder's name (default: recipe and start time, `ser_keras.runs.folders.run_name`).
    recipe : dict, optional
        The command-line recipe, written to ``recipe.yaml`` (`ser_keras.training.recipe`) so that
        ``ser-keras train --config RUN/recipe.yaml`` replays the run.  Without one, a run
        on the feature set's own splits writes the recipe of the feature set and
        ``options`` (`ser_keras.training.recipe.recipe_of`).
    calibration : dict, optional
        A cv's temperature and abstention threshold (`ser_keras.training.cv.cv_calibration`),
        applied on top of what the validation speakers give: the way to calibrate a run
        whose validation speakers train (``--select last``), from speakers the cv held out.

    Returns
    -------
    run_dir : Path
    """
    kind = fs.features.kind
    options = check_recipe(options or TrainOptions(), fs.features)
    model_name = options.model
    own_splits = parts is None  # not a cv fold: the run's recipe replays it
    if own_splits:
        parts = {split: load_split(fs, split, gender) for split in ("train", "val", "test")}
    for split, part in parts.items():
        if len(part.X) == 0:
            raise ParameterError(f"the {split} split has no {gender} rows in {fs.path}")
    if own_splits:
        warn_few_speakers({split: part.rows["speaker"].nunique() for split, part in parts.items()})
    input_range = sound_range(parts["train"], fs.features)
    parts = normalize_parts(parts, options.normalize, fs.features)
    if calibration is not None and calibration["labels"] != fs.labels:
        raise ParameterError(f"--calibrate-from {calibration['cv']}: its labels differ from this feature set's")
    if not is_chief():
        import tempfile

        out_dir = tempfile.mkdtemp(prefix="ser-keras-worker-")
    with Staged(out_dir, name or run_name(kind, model_name, gender, options.normalize, f"seed{options.seed}")) as run:
        _train_into(run.staging, fs, model_name, gender, options, strategy, progress, parts, calibration, input_range)
        from .recipe import recipe_of, write_recipe

        if recipe is None and own_splits:
            recipe = recipe_of(fs, options, gender=gender)
        if recipe is not None:
            write_recipe(recipe, run.staging)
        write_model_card(run.staging)
    return run.path


def check_recipe(options: TrainOptions, config) -> TrainOptions:
    """The options resolved for the feature kind (`TrainOptions.resolve`), after checking that the
    model exists and takes these features; run before any extraction or training."""
    model_name = options.model or config.kind_spec.default_model
    get_spec(model_name)  # an unknown name is answered with the valid ones
    check_model_suits(model_name, config)
    return options.resolve(model_name)


def check_model_suits(model_name: str, config) -> None:
    """Refuse a model that cannot take the feature kind's arrays, naming both."""
    layout = config.kind_spec.layout
    allowed = get_spec(model_name).layouts
    if layout not in allowed:
        kinds = [k for k, spec in KINDS.items() if spec.layout in allowed]
        raise ParameterError(
            f"--model {model_name} does not take {config.kind} features; extract with --features {' or '.join(kinds)}"
        )


def sound_range(part: Part, config) -> dict | None:
    """``run.json`` ``input_range``: the shortest sound (the ``duration`` column, after the 40 dB trim)
    among the training split's original clips, for the predictor's input checks; None for kinds without
    that column."""
    names = config.feature_names() or []
    if "duration" not in names or not len(part.y):
        return None
    original = (part.rows["view"] == "orig").to_numpy() if "view" in part.rows else np.ones(len(part.y), bool)
    seconds = np.asarray(part.X[:, names.index("duration")], dtype=np.float64)[original]
    return {"shortest_sound_seconds": round(float(seconds.min()), 3)} if len(seconds) else None


#: Fewer training or test speakers than these and a run's figures say little about speakers it never met.
MIN_TRAIN_SPEAKERS, MIN_TEST_SPEAKERS = 4, 2


def warn_few_speakers(counts: dict[str, int]) -> None:
    """Warn when a run trains on fewer than `MIN_TRAIN_SPEAKERS` speakers or is tested on fewer than
    `MIN_TEST_SPEAKERS` (``counts``: speakers per split)."""
    import warnings

    from ..errors import SerWarning

    if counts["train"] < MIN_TRAIN_SPEAKERS or counts["test"] < MIN_TEST_SPEAKERS:
        warnings.warn(
            f"{counts['train']} training and {counts['test']} test speaker(s): the test accuracy says little about "
            "speakers the model never met; ser-keras cv scores every speaker once",
            SerWarning,
            stacklevel=3,
        )


def write_predictions(path: Path, part: Part, probabilities, labels: list[str], *, distance=None) -> None:
    """``predictions.csv``: per test row its ``path``, ``speaker``, ``true`` label index and probabilities, and for
    runs of utterance features its ``distance`` from the training features (`ser_keras.models.typicality`)."""
    import pandas as pd

    from ..files import write_csv

    table = pd.DataFrame(
        {"path": part.rows["path"].astype(str).to_numpy(), "speaker": part.rows["speaker"].to_numpy(), "true": part.y}
    )
    table = pd.concat([table, pd.DataFrame(probabilities, columns=labels)], axis=1)
    if distance is not None:
        table[DISTANCE_COLUMN] = np.round(np.asarray(distance, dtype=np.float64), 6)
    write_csv(table, path)


def fit_typicality(fs, parts: dict[str, Part], run_dir: Path, given: dict | None):
    """Fit and save ``typicality.npz`` on the training rows (every view) of a run of utterance features.

    Returns
    -------
    typicality : `ser_keras.models.typicality.Typicality` or None
        None for kinds without utterance features.
    max_distance : float or None
        The cv's (``given``), else the `ser_keras.models.typicality.QUANTILE` of the validation
        speakers' distances (None without validation rows).
    test_distance : np.ndarray [shape=(n_test,)] or None
    """
    from ..models.typicality import Typicality, distance_threshold, utterance_columns

    n_columns = utterance_columns(fs.features)
    if n_columns is None:
        return None, None, None
    train, val, test = (parts[s].X.reshape(len(parts[s].X), -1) for s in ("train", "val", "test"))
    typicality = Typicality.fit(train[:, :n_columns])
    typicality.save(run_dir / TYPICALITY_FILE)
    if given is not None and given.get("max_distance") is not None:
        max_distance = given["max_distance"]
    else:
        max_distance = distance_threshold(typicality.distance(val)) if len(val) else None
    return typicality, max_distance, typicality.distance(test) if len(test) else None


def _calibrate_and_save(
    model,
    val_probabilities,
    y_val,
    X_test,
    fs,
    options,
    run_dir: Path,
    given: dict | None,
    *,
    typicality=None,
    max_distance=None,
):
    """Fit the temperature and the abstention threshold on the validation speakers, put the
    temperature inside the model, save ``model.keras`` and the SavedModel.

    ``given`` (a cv's, `ser_keras.training.cv.cv_calibration`) multiplies the temperature and
    replaces the threshold: the cv fitted both on its folds' outputs, which were scaled as this
    run's are by its validation speakers.  ``typicality`` and ``max_distance`` (`fit_typicality`) go into the
    SavedModel.

    Returns
    -------
    probabilities : np.ndarray [shape=(n_test, n_labels)]
        The saved model's (calibrated) probabilities of the test rows: the trained model's,
        scaled by `ser_keras.evaluation.calibration.scale_probabilities`, the formula of its
        `ser_keras.models.layers.TemperatureScaling` layer.
    uncalibrated : np.ndarray [shape=(n_test, n_labels)] or None
        The same before scaling (None when nothing was scaled).
    calibration : dict
        ``temperature`` (None: not scaled), ``min_confidence`` and how they were chosen, for ``run.json``.
    """
    from ..evaluation.calibration import (
        PROBABILITY_FLOOR,
        choose_min_confidence,
        fit_temperature,
        scale_probabilities,
        scaling_figures,
    )
    from ..models.layers import with_temperature
    from ..serving.saved_model import export_saved_model

    if val_probabilities is None:
        calibration = {
            "temperature": None,
            "min_confidence": 0.0,
            "note": "not rescaled: with --select last the validation speakers are training data",
        }
    else:
        temperature = fit_temperature(val_probabilities, y_val)
        scaled = scale_probabilities(val_probabilities, temperature)
        calibration = {
            "temperature": temperature,
            "min_confidence": round(choose_min_confidence(scaled, y_val), 6),
            "fitted_on": "the validation speakers (temperature: least log-loss; min_confidence: answering "
            "only where, on them, answers were more often right than wrong)",
            "validation": scaling_figures(val_probabilities, scaled, y_val),
        }
    if given is not None:
        calibration.update(
            temperature=round((calibration["temperature"] or 1.0) * given["temperature"], 6),
            min_confidence=round(given["min_confidence"], 6),
            from_cv={"cv": given["cv"], "temperature": given["temperature"], "min_confidence": given["min_confidence"]},
        )
        calibration.pop("note", None)
    calibration.update(distance_calibration(max_distance, given))
    probabilities, uncalibrated = model.predict(X_test, batch_size=256, verbose=0), None
    if calibration["temperature"] is not None:  # the layer is scale_probabilities: the test rows are not rescored
        uncalibrated = probabilities
        probabilities = scale_probabilities(uncalibrated, calibration["temperature"]).astype(np.float32)
        model = with_temperature(model, calibration["temperature"], floor=PROBABILITY_FLOOR)
    model.save(run_dir / KERAS_MODEL_FILE)
    export_saved_model(
        model,
        run_dir / SAVED_MODEL_DIR,
        config=fs.features,
        labels=fs.labels,
        normalize=options.normalize,
        min_confidence=calibration["min_confidence"],
        typicality=typicality,
        max_distance=calibration.get("max_distance"),
    )
    return probabilities, uncalibrated, calibration


def distance_calibration(max_distance: float | None, given: dict | None) -> dict:
    """What ``run.json``'s ``calibration`` records of ``max_distance`` (empty without one)."""
    if max_distance is None:
        return {}
    cv = given is not None and given.get("max_distance") is not None
    where = "the cv's held-out speakers (every fold)" if cv else "the validation speakers"
    return {"max_distance": max_distance, "max_distance_fitted_on": where}


def _train_into(
    run_dir: Path,
    fs,
    model_name,
    gender,
    options,
    strategy,
    progress,
    parts: dict[str, Part],
    given: dict | None,
    input_range: dict | None,
):
    """Train, score and export into the (staging) folder ``run_dir``."""
    train_part, val_part, test_part = parts["train"], parts["val"], parts["test"]
    started = time.perf_counter()
    typicality, max_distance, test_distance = fit_typicality(fs, parts, run_dir, given)
    spec = get_spec(model_name)
    if spec.is_keras:  # fusion included: one Keras model fitted in parts
        if spec.family == "fusion":
            from .fit_fusion import fit_fusion

            fitted = fit_fusion(
                fs, train_part.X, train_part.y, val_part.X, val_part.y, options, run_dir, strategy, progress
            )
        else:
            fitted = fit_keras(
                model_name, fs, train_part.X, train_part.y, val_part.X, val_part.y, options, run_dir, strategy, progress
            )
        model, history, extra, val_probabilities = fitted
        probabilities, uncalibrated, extra["calibration"] = _calibrate_and_save(
            model,
            val_probabilities,
            val_part.y,
            test_part.X,
            fs,
            options,
            run_dir,
            given,
            typicality=typicality,
            max_distance=max_distance,
        )
    else:
        probabilities, history, extra = fit_sklearn(
            model_name, train_part, val_part, test_part.X, options, run_dir, config=fs.features, labels=fs.labels
        )
        uncalibrated = None
        extra["calibration"] = {
            "temperature": None,
            "min_confidence": 0.0,
            "note": "scikit-learn runs are not rescaled: their probabilities are fitted on train + val",
            **distance_calibration(max_distance, given),
        }
    seconds = time.perf_counter() - started
    write_predictions(run_dir / PREDICTIONS_FILE, test_part, probabilities, fs.labels, distance=test_distance)
    report = score(test_part.y, probabilities.argmax(axis=1), fs.labels, probabilities=probabilities)
    report.update(calibration_figures(test_part.y, probabilities, uncalibrated, extra["calibration"]))
    report["test_speakers"] = sorted(test_part.rows["speaker"].unique())
    report["evaluated_on"] = "own test split"
    report["normalize"] = options.normalize
    if transductive(options.normalize):
        report["note"] = (
            f"{options.normalize} normalisation is transductive: each test {options.normalize}'s features were "
            f"standardised by the statistics of that {options.normalize}'s own test clips"
        )
    title = (
        f"{published_name(run_dir)}: {model_name} on {corpus_names(fs.config.get('corpora'))} "
        f"({fs.features.kind}, {gender}, {options.normalize})"
    )
    write_report(report, run_dir, history=history, title=title, kept_epoch=extra.get("best_epoch"))
    sidecar = {
        "package_version": __version__,
        "library_versions": library_versions(("tensorflow", "keras", "numpy", "librosa", "scikit-learn")),
        "model": model_name,
        "gender": gender,
        "normalize": options.normalize,
        "labels": fs.labels,
        "features": fs.config["features"],
        "feature_set": str(fs.path.resolve()),
        "feature_set_relative": os.path.relpath(fs.path.resolve(), Path(run_dir).resolve()),
        "feature_fingerprint": fs.config["fingerprint"],
        "corpora": fs.config.get("corpora", []),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "augment": fs.config["augment"],
        "split": fs.config["split"],
        "speakers": {
            "train": sorted(train_part.rows["speaker"].unique()),
            "val": sorted(val_part.rows["speaker"].unique()),
            "test": report["test_speakers"],
        },
        "n": {split: int(len(part.y)) for split, part in parts.items()},
        "seed": options.seed,
        # model, seed and normalize are the sidecar's own keys: not repeated here
        "options": {k: v for k, v in asdict(options).items() if k not in ("model", "seed", "normalize")},
        "training_seconds": round(seconds, 2),
        **({"input_range": input_range} if input_range else {}),
        **extra,
    }
    atomic_write_json(run_dir / RUN_FILE, sidecar)
