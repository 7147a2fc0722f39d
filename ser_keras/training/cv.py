"""Speaker k-fold cross-validation: the honest way to compare recipes.

Speakers, never files, are dealt into ``k`` folds (`ser_keras.data.splits.speaker_folds`:
seeded, each gender spread evenly).  Fold ``i`` tests on its speakers; the remaining
speakers are split again by speaker into train and val (val drives early stopping and
is never scored).  Features are extracted **once** for every file, with the training
augmentation applied to every file's extra views; a fold uses the augmented views of
its training speakers only, and the original view of its val and test speakers, so no
copy of a test utterance is ever trained on.

`cross_validate` writes one folder (built hidden, published atomically)::

    fold-1/ ... fold-k/   one run folder per fold (the usual run.json, report.json, model)
    cv.json               per-fold and mean/std UA, WA, macro-F1, per-class recall,
                          the summed confusion matrix, the recipe
    cv.png                per-fold bars with the mean line, and the summed confusion matrix

With ``gender="all"`` each fold also trains a male and a female model on the same
speakers (``fold-k-male/``, ``fold-k-female/``) and scores them routed by a gender
classifier on the fold's test clips (``fold-k-routed.json``, `ser_keras.training.gender.routed_report`);
``cv.json`` holds that as ``routed`` beside the mixed model's figures.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.corpora import corpus_names
from ..data.splits import speaker_folds, split_speakers
from ..errors import ParameterError
from ..evaluation.cv_report import plot_cv, summarize_folds
from ..extraction.extract import FeatureSet, extract_features
from ..extraction.normalize import transductive
from ..extraction.parts import Part, gender_rows
from ..files import atomic_write_json
from ..layout import (
    CV_FILE,
    CV_PLOT,
    DISTANCE_COLUMN,
    LOCK_FILE,
    PREDICTIONS_FILE,
    REPORT_FILE,
    RESUME_FILE,
    RUN_FILE,
    fold_name,
    routed_name,
)
from ..runs.folders import PARTIAL_MARK, Staged, check_out_dir, published_name, run_name
from ..runs.model_card import write_model_card
from .train import TrainOptions, train


def fold_parts(
    fs: FeatureSet, fold: np.ndarray, k: int, *, gender: str = "mixed", val_fraction: float = 0.15, seed: int = 0
) -> dict[str, Part]:
    """The train / val / test data of fold ``k`` from a feature set extracted with every file in ``train``.

    Parameters
    ----------
    fs : FeatureSet
        Extracted for cross-validation: every file in the ``train`` split, with its augmented views.
    fold : np.ndarray [shape=(n_files,)]
        Fold of each original file, in the order of the feature set's original rows.
    k : int
    gender : str
        Restrict every part to one gender (``mixed``: all).
    val_fraction : float
        Share of each gender's remaining speakers held out for early stopping.

    Returns
    -------
    parts : dict of str to Part
        ``train`` (augmented views included), ``val`` and ``test`` (original views only).
    """
    rows = fs.manifest
    X, y = fs.arrays("train", mmap=False)
    original = (rows["view"] == "orig").to_numpy()
    speaker_fold = dict(zip(rows.loc[original, "speaker"], fold))
    row_fold = rows["speaker"].map(speaker_fold).to_numpy()
    keep = gender_rows(rows, gender)
    rest = rows[original & (row_fold != k)]
    inner = split_speakers(rest, val_fraction=val_fraction, test_fraction=0.0, seed=seed + k)
    val_speakers = set(rest.loc[inner == "val", "speaker"])
    masks = {
        "train": keep & (row_fold != k) & ~rows["speaker"].isin(val_speakers).to_numpy(),
        "val": keep & original & rows["speaker"].isin(val_speakers).to_numpy(),
        "test": keep & original & (row_fold == k),
    }
    return {name: Part(X[m], y[m], rows[m].reset_index(drop=True)) for name, m in masks.items()}


def cross_validate(
    manifest: pd.DataFrame,
    *,
    features,
    augment=None,
    options: TrainOptions | None = None,
    folds: int = 4,
    seed: int = 0,
    gender: str = "mixed",
    cache_dir: str | os.PathLike = "features",
    out_dir: str | os.PathLike = "models",
    corpora: list[str] | None = None,
    jobs: int = -1,
    scheduler: str | None = None,
    progress: bool = True,
    recipe: dict | None = None,
) -> Path:
    """Cross-validate one recipe over speaker folds and write its folder.

    Parameters
    ----------
    manifest : pd.DataFrame
        Manifest rows (no split column needed).
    features : FeatureConfig
    augment : AugmentConfig, optional
        Training augmentation (extra views of training speakers' files).
    options : TrainOptions
        The recipe: model, ``normalize``, epochs, ...; ``options.seed`` seeds training.
    folds : int
        Number of speaker folds (2 to the number of speakers).
    seed : int
        Seeds the folds, the inner val split and augmentation.
    gender : {'mixed', 'male', 'female', 'all'}
        ``all``: the mixed model's figures, and beside them the male and female models
        routed by a gender classifier on the same test clips (``routed`` in ``cv.json``).
    cache_dir, out_dir : path
    corpora : list of str
        Recorded in the feature set.
    jobs : int
        Extraction workers.
    scheduler : str, optional
        Extract on a Dask cluster (`ser_keras.extraction.extract.extract_features`).
    progress : bool
        A line per fold on stderr.
    recipe : dict, optional
        The command-line recipe, written to ``recipe.yaml`` (``ser-keras cv --config`` replays it);
        without one, the recipe of these arguments (`ser_keras.training.recipe.cv_recipe_of`).

    Returns
    -------
    cv_dir : Path
        The published folder; ``cv.json`` in it holds the results.
    """
    options = options or TrainOptions()
    if gender not in ("mixed", "male", "female", "all"):
        raise ParameterError(f"cv takes --gender mixed, male, female or all, got {gender!r}")
    fold_of_speaker_rows = speaker_folds(manifest, n_folds=folds, seed=seed)
    all_train = manifest.assign(split="train")
    result = extract_features(
        all_train,
        features=features,
        augment=augment,
        cache_dir=cache_dir,
        seed=seed,
        split_settings={"method": "cv: every file extracted, folds chosen at training"},
        corpora=corpora,
        jobs=jobs,
        scheduler=scheduler,
        progress=progress,
    )
    fs = FeatureSet(result.path)
    original = fs.manifest[fs.manifest["view"] == "orig"]
    fold_by_path = dict(zip(manifest["path"].astype(str), fold_of_speaker_rows))
    fold = original["path"].astype(str).map(fold_by_path).to_numpy()
    model_name = options.model or features.kind_spec.default_model
    name = run_name("cv", features.kind, model_name, gender, options.normalize, f"{folds}folds", f"seed{options.seed}")
    key = resume_key(
        features=features,
        augment=fs.config["augment"],
        options=options,
        model=model_name,
        gender=gender,
        folds=folds,
        seed=seed,
        fingerprint=fs.config["fingerprint"],
    )
    check_out_dir(out_dir)
    earlier, lock = _claim_unfinished(Path(out_dir), key)
    if earlier is not None:
        name = published_name(earlier)
        done = [f"fold {k + 1}" for k in range(folds) if _finished_fold(earlier, k, gender) is not None]
        print(f"resuming the unfinished cv in {earlier}: {', '.join(done) or 'no fold'} already done", file=sys.stderr)
    staged = Staged(out_dir, name, resume=earlier, keep=lambda: any(staged.staging.glob("fold-*/report.json")))
    try:
        return _run_folds(
            staged,
            lock,
            fs=fs,
            fold=fold,
            folds=folds,
            gender=gender,
            seed=seed,
            options=options,
            features=features,
            model_name=model_name,
            corpora=corpora,
            key=key,
            name=name,
            recipe=recipe,
            progress=progress,
        )
    finally:
        if lock is not None:
            lock.close()


def _run_folds(
    staged: Staged,
    lock,
    *,
    fs,
    fold,
    folds,
    gender,
    seed,
    options,
    features,
    model_name,
    corpora,
    key,
    name,
    recipe,
    progress,
) -> Path:
    """Train (or take from the resumed folder) every fold, summarise, and publish the cv folder."""
    started = time.perf_counter()
    own_lock = None
    try:
        with staged as cv:
            if lock is None:
                own_lock = _lock_staging(cv.staging)
            atomic_write_json(cv.staging / RESUME_FILE, {"key": key, "name": name})
            reports, routed = [], []
            for k in range(folds):
                finished = _finished_fold(cv.staging, k, gender)
                if finished is None:
                    finished = _train_fold(cv.staging, fs, fold, k, gender=gender, seed=seed, options=options)
                report, routed_k = finished
                reports.append(report)
                if routed_k is not None:
                    routed.append(routed_k)
                if progress:
                    also = f"  routed by gender UA {routed_k['unweighted_accuracy']:.3f}" if routed_k else ""
                    print(
                        f"fold {k + 1}/{folds}: UA {report['unweighted_accuracy']:.3f}  "
                        f"WA {report['weighted_accuracy']:.3f}  macro-F1 {report['macro_f1']:.3f}{also}  "
                        f"test speakers {', '.join(report['test_speakers'])}",
                        file=sys.stderr,
                        flush=True,
                    )
            summary = summarize_folds(reports, labels=fs.labels)
            calibration = _cross_fitted(cv.staging, folds, fs.labels)
            if calibration is not None:
                summary["calibration"] = calibration
            if routed:
                summary["routed"] = summarize_folds(routed, labels=fs.labels)
                summary["routed"]["gender_accuracy"] = [r["gender_accuracy"] for r in routed]
                summary["routed"]["note"] = (
                    "the fold's male and female models, each test clip sent to the one its gender classifier "
                    "chose; the figures beside it are the mixed model's on the same clips"
                )
            summary.update(
                runs=[name for k in range(folds) for name in _fold_runs(k, gender).values()],
                recipe={
                    "features": features.to_dict(),
                    "augment": fs.config["augment"],
                    "model": model_name,
                    "gender": gender,
                    "folds": folds,
                    "seed": seed,
                    "options": asdict(options),
                    "corpora": corpora or ["demo"],
                },
                feature_set=str(fs.path.resolve()),
                seconds=round(time.perf_counter() - started, 1),
            )
            if transductive(options.normalize):
                summary["note"] = (
                    f"transductive {options.normalize} normalisation: each test {options.normalize} standardised "
                    "by the statistics of its own test clips"
                )
            atomic_write_json(cv.staging / CV_FILE, summary)
            from .recipe import cv_recipe_of, write_recipe

            if recipe is None:
                recipe = cv_recipe_of(
                    features=features,
                    augment=fs.config["augment"],
                    options=options.resolve(model_name),
                    folds=folds,
                    seed=seed,
                    gender=gender,
                    corpora=corpora,
                )
            write_recipe(recipe, cv.staging)
            plot_cv(summary, cv.staging / CV_PLOT, title=f"{name} on {corpus_names(corpora)}")
            write_model_card(cv.staging)
            (cv.staging / RESUME_FILE).unlink()
            (cv.staging / LOCK_FILE).unlink(missing_ok=True)
    finally:
        if own_lock is not None:
            own_lock.close()
    return cv.path


def resume_key(
    *, features, augment: dict, options: TrainOptions, model: str, gender: str, folds: int, seed: int, fingerprint: str
) -> str:
    """A digest of everything a cv's results depend on: the recipe and the feature set's fingerprint."""
    import hashlib

    recipe = {
        "features": features.to_dict(),
        "augment": augment,
        "options": asdict(options),
        "model": model,
        "gender": gender,
        "folds": folds,
        "seed": seed,
        "fingerprint": fingerprint,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _lock_staging(folder: Path):
    """An exclusive, non-blocking ``flock`` on ``folder/.lock``; returns the open handle, or None when
    another live process holds it (a kill -9 releases it)."""
    import fcntl

    handle = open(folder / LOCK_FILE, "a")  # noqa: SIM115 - held until the cv is published
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def _claim_unfinished(out_dir: Path, key: str):
    """The unfinished cv folder of the same recipe and features under ``out_dir`` (left by a
    killed or interrupted run) with the most finished folds, and its lock; or ``(None, None)``.

    Other unfinished folders of the same cv that no live process holds are superseded by
    it and removed (they are ours: hidden ``.cv-*.partial-*`` folders holding `RESUME_FILE`).
    """
    import shutil

    claimed = []
    for folder in sorted(out_dir.glob(f".cv-*{PARTIAL_MARK}*")):
        try:
            record = json.loads((folder / RESUME_FILE).read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict) or record.get("key") != key:
            continue
        lock = _lock_staging(folder)
        if lock is not None:  # no live process works in it
            claimed.append((len(list(folder.glob("fold-*/report.json"))), folder, lock))
    if not claimed:
        return None, None
    claimed.sort(key=lambda item: -item[0])
    for _, folder, lock in claimed[1:]:
        shutil.rmtree(folder, ignore_errors=True)
        lock.close()
    return claimed[0][1], claimed[0][2]


def cv_calibration(cv_dir: str | os.PathLike, *, model: str) -> dict:
    """The temperature and abstention threshold a cv folder fitted on its folds' held-out speakers
    (``cv.json`` ``calibration``), for ``train --calibrate-from``.

    Returns
    -------
    calibration : dict
        ``temperature``, ``min_confidence``, ``max_distance`` (None when the cv's runs had no typicality),
        ``labels`` (to check against the run's) and ``cv`` (the folder).

    Raises
    ------
    ParameterError
        ``model`` is not a Keras model; not a finished cv folder, no calibration in it, or a cv of
        another model.
    """
    from ..models import get_spec
    from ..runs.folders import read_json

    if not get_spec(model).is_keras:
        raise ParameterError(f"--calibrate-from: --model {model} is a scikit-learn model; only Keras runs are rescaled")
    path = Path(cv_dir) / CV_FILE
    if not path.is_file():
        raise ParameterError(f"--calibrate-from {cv_dir}: not a finished cv folder (no {CV_FILE})")
    summary = read_json(path, what="cv summary")
    calibration = summary.get("calibration") if isinstance(summary, dict) else None
    recipe = summary.get("recipe", {}) if isinstance(summary, dict) else {}
    if not isinstance(calibration, dict) or not isinstance(calibration.get("temperature"), (int, float)):
        raise ParameterError(
            f"--calibrate-from {path}: holds no calibration (a cv made before it was fitted); rerun that cv"
        )
    if recipe.get("model") != model:
        raise ParameterError(f"--calibrate-from {path}: a cv of --model {recipe.get('model')}, not {model}")
    temperature, min_confidence = float(calibration["temperature"]), float(calibration.get("min_confidence", 0.0))
    if not (0 < temperature < float("inf") and 0 <= min_confidence <= 1):
        raise ParameterError(f"--calibrate-from {path}: temperature or min_confidence out of range")
    max_distance = calibration.get("max_distance")
    if max_distance is not None and not (isinstance(max_distance, (int, float)) and 0 < max_distance < 1e6):
        raise ParameterError(f"--calibrate-from {path}: max_distance out of range")
    return {
        "temperature": temperature,
        "min_confidence": min_confidence,
        "max_distance": None if max_distance is None else float(max_distance),
        "labels": list(summary.get("labels", [])),
        "cv": str(Path(cv_dir).resolve()),
    }


def _cross_fitted(staging: Path, folds: int, labels: list[str]) -> dict | None:
    """`ser_keras.evaluation.calibration.cross_fitted_calibration` of the folds' ``predictions.csv``
    (the mixed runs'), or None when a fold lacks one (a fold resumed from an older version)."""
    from ..evaluation.calibration import cross_fitted_calibration

    probabilities, y_true, distance = [], [], []
    for k in range(folds):
        path = staging / fold_name(k) / PREDICTIONS_FILE
        if not path.is_file():
            return None
        table = pd.read_csv(path)
        probabilities.append(table[labels].to_numpy(dtype=np.float64))
        y_true.append(table["true"].to_numpy(dtype=np.int64))
        if DISTANCE_COLUMN in table:
            distance.append(table[DISTANCE_COLUMN].to_numpy(dtype=np.float64))
    calibration = cross_fitted_calibration(probabilities, y_true)
    if len(distance) == folds:  # utterance features: the threshold from every fold's held-out speakers
        from ..models.typicality import distance_threshold

        calibration["max_distance"] = distance_threshold(np.concatenate(distance))
    return calibration


def _fold_runs(k: int, gender: str) -> dict[str, str]:
    """The run folders of fold ``k`` by gender variant: one, or with ``all`` the mixed, male and female."""
    from .gender import VARIANTS

    if gender != "all":
        return {gender: fold_name(k)}
    return {variant: fold_name(k, None if variant == "mixed" else variant) for variant in VARIANTS}


def _train_fold(staging: Path, fs, fold, k: int, *, gender: str, seed: int, options) -> tuple[dict, dict | None]:
    """Train fold ``k``'s run (or, with ``all``, its three runs and their routed score) into ``staging``."""
    runs, parts = {}, {}
    for variant, name in _fold_runs(k, gender).items():
        _remove_unfinished_run(staging, name)
        parts[variant] = fold_parts(fs, fold, k, gender=variant, seed=seed)
        runs[variant] = train(
            fs, gender=variant, out_dir=staging, options=options, progress=False, parts=parts[variant], name=name
        )
    report = json.loads((staging / fold_name(k) / REPORT_FILE).read_text())
    if gender != "all":
        return report, None
    from .gender import routed_report

    routed = routed_report(fs, parts["mixed"], runs, seed=seed + k)
    atomic_write_json(staging / routed_name(k), routed)
    return report, routed


def _finished_report(path: Path) -> dict | None:
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) and "unweighted_accuracy" in report else None


def _finished_fold(staging: Path, k: int, gender: str) -> tuple[dict, dict | None] | None:
    """The report of fold ``k`` (and with ``all`` its routed report) when every run of it was
    published complete, or None."""
    reports = {}
    for variant, name in _fold_runs(k, gender).items():
        reports[variant] = _finished_report(staging / name / REPORT_FILE)
        if reports[variant] is None or not (staging / name / RUN_FILE).is_file():
            return None
    if gender != "all":
        return reports[gender], None
    routed = _finished_report(staging / routed_name(k))
    return None if routed is None else (reports["mixed"], routed)


def _remove_unfinished_run(staging: Path, name: str) -> None:
    """Remove what a killed run left of the fold run ``name``: its hidden staging folder, or an incomplete folder."""
    import shutil

    for leftover in staging.glob(f".{name}{PARTIAL_MARK}*"):
        shutil.rmtree(leftover, ignore_errors=True)
    if (staging / name).exists():
        shutil.rmtree(staging / name, ignore_errors=True)
