"""Re-scoring a published run: on its own test split, or on another corpus (cross-corpus).

A run is never rewritten: the report goes into a new folder inside it (`evaluate_into`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ParameterError
from ..extraction.extract import FeatureSet
from ..extraction.normalize import standardize_groups, transductive
from ..extraction.parts import load_split, speaker_rows
from ..runs.folders import feature_set_of, load_run, load_typicality
from ..runs.inference import predict_probabilities
from .calibration import uncertain_report
from .report import score


def evaluate_run(
    run_dir: str | os.PathLike,
    fs: FeatureSet | None = None,
    *,
    split: str = "test",
    loaded: tuple[dict, object] | None = None,
) -> dict:
    """Re-score a run on its own test split, or on another feature set (cross-corpus).

    Cross-corpus, only the emotions both label sets share are scored: rows of other
    emotions are dropped and the model's choice is restricted to the shared ones;
    the report says which.

    Parameters
    ----------
    run_dir : path
    fs : FeatureSet, optional
        The rows to score; the run's own feature set when omitted.
    split : str
        The split of ``fs`` to score when it is not a cv fold's.
    loaded : (dict, model), optional
        ``load_run(run_dir)`` already done, for a caller scoring one run on many feature sets
        (one model, so Keras traces its predict function once).

    Returns
    -------
    report : dict
        `ser_keras.evaluation.report.score`'s metrics, plus the test speakers and what was scored.
    """
    run_dir = Path(run_dir)
    sidecar, model = loaded or load_run(run_dir)
    own = fs is None
    fs = fs or FeatureSet(feature_set_of(run_dir, sidecar))
    if fs.config["features"] != sidecar["features"]:
        raise ParameterError(f"{fs.path}: its feature config differs from the one {run_dir} was trained on")
    if own and fs.config.get("split", {}).get("method", "").startswith("cv"):
        part = speaker_rows(fs, sidecar["speakers"]["test"], sidecar["gender"])  # a cv fold: its held-out speakers
    else:
        part = load_split(fs, split, sidecar["gender"])
    X, y, rows = part.X, part.y, part.rows
    normalize = sidecar.get("normalize", "global")
    if transductive(normalize):  # each speaker (or corpus) by its own clips here
        X = standardize_groups(X, rows, normalize, time_axis=fs.features.kind_spec.time_axis)
    model_labels = sidecar["labels"]
    shared = [name for name in model_labels if name in fs.labels]
    if not shared:
        raise ParameterError(f"no emotion in common between the run ({model_labels}) and the data ({fs.labels})")
    data_to_model = {fs.labels.index(name): model_labels.index(name) for name in shared}
    keep = np.isin(y, list(data_to_model))
    X, rows = X[keep], rows[keep].reset_index(drop=True)
    y_model = np.array([data_to_model[int(v)] for v in y[keep]], dtype=np.int64)
    probabilities = predict_probabilities(model, X)
    shared_index = [model_labels.index(name) for name in shared]
    restricted = probabilities[:, shared_index]
    y_pred = np.asarray(shared_index)[restricted.argmax(axis=1)]
    # re-index onto the shared labels so the report is square
    position = {m: i for i, m in enumerate(shared_index)}
    renormalised = restricted / np.maximum(restricted.sum(axis=1, keepdims=True), 1e-12)  # over the shared emotions
    report = score(
        np.array([position[v] for v in y_model]),
        np.array([position[v] for v in y_pred]),
        shared,
        probabilities=renormalised,
    )
    typicality = load_typicality(run_dir, fs.features)
    calibration = sidecar.get("calibration") or {}
    report["uncertain"] = uncertain_report(
        renormalised,
        np.array([position[v] for v in y_model]),
        min_confidence=calibration.get("min_confidence", 0.0),
        distance=None if typicality is None else typicality.distance(X),
        max_distance=calibration.get("max_distance"),
    )
    report["test_speakers"] = sorted(rows["speaker"].unique())
    report["evaluated_on"] = "own test split" if own else f"feature set {fs.path} ({', '.join(fs.config['corpora'])})"
    report["shared_emotions"] = shared
    if not own:
        report["note"] = "cross-corpus: only the emotions both the model and the data have are scored"
    return report


def evaluate_into(
    run_dir: str | os.PathLike,
    *,
    manifest=None,
    corpora: list[str] | None = None,
    cache_dir: str | os.PathLike = "features",
    jobs: int = -1,
    progress: bool = True,
    on_extracted=None,
) -> Path:
    """Re-score a published run and write the report into a new folder inside it.

    Without ``manifest``, the run's own test split is scored into ``RUN/eval-test/``; with
    one (another corpus; every file is test data), its features are extracted with the
    run's feature config and scored into ``RUN/eval-<corpora>/``.  Each folder is built
    hidden and renamed into place (``-2``, ``-3`` ... when taken), so the run's own files
    are never rewritten.

    Parameters
    ----------
    run_dir : path
    manifest : pd.DataFrame, optional
        Manifest rows of the other corpus.
    corpora : list of str
        Their ``--corpus`` specs, recorded and used in the folder's name.
    cache_dir : path
        The feature cache for the other corpus.
    jobs : int
        Extraction workers.
    progress : bool
    on_extracted : callable, optional
        Called with the `ser_keras.extraction.extract.ExtractResult` of the other corpus.

    Returns
    -------
    out_dir : Path
        The folder holding ``report.json`` and ``confusion_matrix.png``.
    """
    from ..data.corpora import corpus_names
    from ..extraction.extract import extract_features
    from ..features.config import FeatureConfig
    from ..runs.folders import Staged, read_sidecar
    from .report import write_report

    run_dir = Path(run_dir)
    sidecar = read_sidecar(run_dir)
    if manifest is None:
        report, names = evaluate_run(run_dir), "test"
    else:
        result = extract_features(
            manifest.assign(split="test"),
            features=FeatureConfig.from_dict(sidecar["features"]),
            cache_dir=cache_dir,
            split_settings={"method": "all-test"},
            corpora=corpora,
            jobs=jobs,
            progress=progress,
        )
        if on_extracted is not None:
            on_extracted(result)
        report, names = evaluate_run(run_dir, FeatureSet(result.path)), corpus_names(corpora)
    title = f"{run_dir.name}: {sidecar['model']} trained on {corpus_names(sidecar.get('corpora'))}"
    title += f", evaluated on {names} (cross-corpus)" if manifest is not None else ", re-scored on its test split"
    with Staged(run_dir, f"eval-{names}") as staged:
        write_report(report, staged.staging, title=title)
    return staged.path
