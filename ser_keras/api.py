"""The Python API in a dozen names, each the library's own object or a thin call of it.

``import ser_keras as sk`` names them all; each is imported on first use, so the import is cheap.

Examples
--------
>>> import ser_keras as sk
>>> features = sk.extract("demo", features=sk.FeatureConfig.for_kind("functionals"))  # doctest: +SKIP
>>> run = sk.train(features, options=sk.TrainOptions(model="logreg"))  # doctest: +SKIP
>>> run.report["unweighted_accuracy"], run.predict("clip.wav")["emotion"]  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import tflog
from .layout import CV_FILE, REPORT_FILE, RUN_FILE
from .runs.folders import read_json

#: Corpora as the API takes them: a name (``"demo"``), ``"name=path"``, ``{name: path}``, or a list of those.
Corpora = str | Mapping[str, str | os.PathLike] | Sequence[str]


def corpus_specs(corpora: Corpora) -> list[str]:
    """``NAME=PATH`` specs from corpora given as a name, a mapping or a list (`ser_keras.data.corpora.build_manifest`).

    Examples
    --------
    >>> corpus_specs({"ravdess": "/data/ravdess", "csv": "mine.csv"})
    ['ravdess=/data/ravdess', 'csv=mine.csv']
    >>> corpus_specs("demo")
    ['demo']
    """
    if isinstance(corpora, str):
        return [corpora]
    if isinstance(corpora, Mapping):
        return [f"{name}={os.fspath(path)}" for name, path in corpora.items()]
    return [str(spec) for spec in corpora]


def _named(corpora) -> list[str] | None:
    """The specs that name ``corpora`` in a feature set or report; None for a manifest (or no corpora)."""
    return corpus_specs(corpora) if isinstance(corpora, (str, Mapping, list, tuple)) else None


def manifest_of(corpora, *, cache_dir: str | os.PathLike = "features", emotions=None, merge=None):
    """The manifest of ``corpora`` (`Corpora`, or a manifest DataFrame, returned as it is)."""
    import pandas as pd

    from .data.corpora import build_manifest

    if isinstance(corpora, pd.DataFrame):
        return corpora
    return build_manifest(corpus_specs(corpora), emotions=emotions, merge=merge, cache_dir=cache_dir)


def extract(
    corpora: Corpora = "demo",
    *,
    features=None,
    augment=None,
    split=None,
    cache_dir: str | os.PathLike = "features",
    jobs: int = -1,
    progress: bool = False,
):
    """Split ``corpora`` by speaker, augment the training split and extract its features (or find them cached).

    Parameters
    ----------
    corpora : str, mapping, sequence of str, or pd.DataFrame
        `Corpora`, or a manifest.
    features : FeatureConfig, optional
        Default: the default kind (``fusion``) at its defaults.
    augment : AugmentConfig, optional
        Default: a speed view and a channel view of each training file.
    split : SplitConfig, optional
        Default: 15 % of the speakers for validation and 15 % for test, seed 0.
    cache_dir : path
    jobs : int
        Worker processes; -1 for one per core.
    progress : bool

    Returns
    -------
    feature_set : ser_keras.extraction.extract.FeatureSet
    """
    from .data.splits import SplitConfig
    from .extraction.extract import FeatureSet, extract_features
    from .features.registry import DEFAULT_KIND, FeatureConfig
    from .signal.augment import AugmentConfig

    split = split or SplitConfig()
    manifest = split.apply(manifest_of(corpora, cache_dir=cache_dir))
    result = extract_features(
        manifest,
        features=features or FeatureConfig.for_kind(DEFAULT_KIND),
        augment=augment if augment is not None else AugmentConfig(),
        cache_dir=cache_dir,
        seed=split.seed,
        split_settings=split.settings(),
        corpora=_named(corpora),
        jobs=jobs,
        progress=progress,
    )
    return FeatureSet(result.path)


@dataclass(frozen=True)
class Run:
    """A published run folder: its path, its test report and a `Predictor` of it.

    Examples
    --------
    >>> run = Run("models/functionals-logreg-mixed-global-seed0-20261204-101500")  # doctest: +SKIP
    >>> run.report["unweighted_accuracy"]  # doctest: +SKIP
    0.79
    """

    path: Path

    def __init__(self, path: str | os.PathLike):
        object.__setattr__(self, "path", Path(path))

    @property
    def report(self) -> dict:
        """``report.json``: UA, WA, macro-F1, per-class recall and the confusion matrix on the test speakers."""
        return read_json(self.path / REPORT_FILE, what="report")

    @property
    def sidecar(self) -> dict:
        """``run.json``: labels, features, split speakers, seed and versions."""
        return read_json(self.path / RUN_FILE, what="run")

    @functools.cached_property
    def predictor(self):
        """A `ser_keras.serving.predict.Predictor` of this run (loaded once)."""
        from .serving.predict import Predictor

        return Predictor.from_run(self.path)

    def predict(self, clip: str | os.PathLike) -> dict:
        """``predictor.predict_file(clip)``: the emotion of an audio file and the probability of each."""
        return self.predictor.predict_file(clip)

    def __fspath__(self) -> str:
        return os.fspath(self.path)


def train(feature_set, *, options=None, gender: str = "mixed", out_dir: str | os.PathLike = "models", progress=False):
    """Train a model on a feature set (a `FeatureSet` or its folder), evaluated on its test speakers.

    Parameters
    ----------
    feature_set : FeatureSet or path
    options : TrainOptions, optional
        Default: the default recipe's model (``fusion``) and training options.
    gender : {'mixed', 'male', 'female'}
    out_dir : path
    progress : bool

    Returns
    -------
    run : Run
    """
    from .extraction.extract import FeatureSet
    from .training.train import train as train_run

    tflog.install()  # TensorFlow's native start-up lines stay off the terminal
    fs = feature_set if isinstance(feature_set, FeatureSet) else FeatureSet(feature_set)
    return Run(train_run(fs, gender=gender, out_dir=out_dir, options=options, progress=progress))


def cross_validate(
    corpora: Corpora = "demo",
    *,
    features=None,
    augment=None,
    options=None,
    folds: int = 4,
    seed: int = 0,
    cache_dir: str | os.PathLike = "features",
    out_dir: str | os.PathLike = "models",
    progress: bool = False,
) -> dict:
    """Speaker k-fold cross-validation of a recipe; returns ``cv.json`` (mean ± std over folds) with its ``path``.

    Parameters
    ----------
    corpora : str, mapping, sequence of str, or pd.DataFrame
        `Corpora`, or a manifest.
    features, augment, options
        As `extract` and `train`.
    folds, seed : int
        Speaker folds, and the seed of the folds, augmentation and training.
    cache_dir, out_dir : path
    progress : bool

    Returns
    -------
    summary : dict
        ``cv.json``, plus ``path``: the cv folder.
    """
    from .features.registry import DEFAULT_KIND, FeatureConfig
    from .signal.augment import AugmentConfig
    from .training.cv import cross_validate as run_cv

    tflog.install()
    manifest = manifest_of(corpora, cache_dir=cache_dir)
    path = run_cv(
        manifest.drop(columns="split", errors="ignore"),
        features=features or FeatureConfig.for_kind(DEFAULT_KIND),
        augment=augment if augment is not None else AugmentConfig(),
        options=options,
        folds=folds,
        seed=seed,
        cache_dir=cache_dir,
        out_dir=out_dir,
        progress=progress,
    )
    return {**read_json(Path(path) / CV_FILE, what="cv"), "path": Path(path)}


def evaluate(run, *, corpora: Corpora | None = None, cache_dir: str | os.PathLike = "features") -> dict:
    """Re-score a run (a `Run` or its folder) on its own test speakers, or on other ``corpora``; returns the report.

    The report is also written into a new ``eval-…`` folder inside the run.
    """
    from .evaluation.evaluate import evaluate_into

    tflog.install()
    manifest = None if corpora is None else manifest_of(corpora, cache_dir=cache_dir)
    out = evaluate_into(os.fspath(run), manifest=manifest, corpora=_named(corpora), cache_dir=cache_dir, progress=False)
    return read_json(out / REPORT_FILE, what="report")
