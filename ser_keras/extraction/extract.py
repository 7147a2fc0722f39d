"""The extract stage: a split manifest -> a cached, fingerprinted feature set.

A feature set is a folder ``<cache_dir>/<kind>-<fingerprint>/`` holding::

    X_train.npy  y_train.npy  X_val.npy  y_val.npy  X_test.npy  y_test.npy
    manifest.csv   one row per array row (split, view = 'orig' or the recipe, label)
    errors.csv     files that could not be used, with the reason
    config.json    everything needed to read and to reproduce the set

The fingerprint hashes the manifest (each file's path, size and mtime, label,
speaker and split), the feature and augmentation configs, the split settings and
the package version; run-time options (``jobs``, progress) are not part of it.

Work is cut into fixed chunks of `CHUNK_SIZE` items, each saved atomically as soon
as it is done, so a killed run resumes where it stopped and ends with arrays
byte-identical to an uninterrupted run.  The finished folder appears by one
``os.replace`` and a lock file serialises concurrent runs on one feature set, so a
reader never sees a half-written cache.  Extraction never imports TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..data.emotions import ordered_labels
from ..data.manifest import file_fingerprints
from ..data.splits import SPLITS
from ..errors import ParameterError, SerError
from ..features.config import FeatureConfig
from ..files import (
    NO_SPACE,
    DiskFullError,
    atomic_write_json,
    disk_full,
)
from ..provenance import library_versions
from ..signal.augment import ALGORITHM_VERSION as AUGMENT_ALGORITHM_VERSION
from ..signal.augment import AugmentConfig
from ..signal.shifts import SHIFT_VERSION
from .chunks import CHUNK_SIZE, assemble, run_chunks
from .feature_cache import array_digest, chunk_name, chunk_ok, locked, verified
from .reuse import KEY_COLUMN, find_rows, item_keys

FORMAT_VERSION = 1


@dataclass
class ExtractResult:
    """What `extract_features` did."""

    path: Path
    cache_hit: bool
    n_items: int = 0
    n_reused: int = 0
    n_errors: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


def plan_items(manifest: pd.DataFrame, augment: AugmentConfig) -> pd.DataFrame:
    """One row per array row: every file once as ``orig``, plus one per recipe for training files.

    Rows are ordered by split (train, val, test), then manifest order, then view, and
    carry ``source`` (the manifest row) and ``view_index`` (0 = original) for seeding.
    """
    if "split" not in manifest.columns:
        raise ParameterError("the manifest has no split column: split it before extracting")
    views = ["orig", *augment.names]
    parts = []
    for split in SPLITS:
        part = manifest[manifest["split"] == split]
        n_views = len(views) if split == "train" else 1
        repeated = part.loc[part.index.repeat(n_views)].copy()
        repeated["source"] = repeated.index.to_numpy()
        repeated["view_index"] = np.tile(np.arange(n_views), len(part))
        repeated["view"] = [views[i] for i in repeated["view_index"]]
        parts.append(repeated)
    return pd.concat(parts, ignore_index=True)


def fingerprint(
    manifest: pd.DataFrame,
    *,
    features: FeatureConfig,
    augment: AugmentConfig,
    split: dict,
    seed: int,
    shift: str | None = None,
) -> str:
    """A hex digest that changes with any input file, label, split or parameter, with the seed of the
    augmentation draws (when there is augmentation or a shift), with the shift, and with the kind's
    columns (their names and the output shape), so a kind that gains a block never hits an old cache."""
    stats = file_fingerprints(manifest["path"])
    key = {
        "format": FORMAT_VERSION,
        "version": __version__,
        "features": features.to_dict(),
        "columns": features.column_signature(),
        "augment": augment.to_dict(),
        "augment_algorithm": AUGMENT_ALGORITHM_VERSION if augment.recipes else None,
        # the views are drawn from the seed: another seed is another feature set (without views, the same)
        "augment_seed": int(seed) if augment.recipes or shift else None,
        **({"shift": [shift, SHIFT_VERSION]} if shift else {}),  # absent without one: the keys of before
        "split": split,
        "files": [
            [str(p), int(size), int(mtime), e, s, g, part]
            for p, (size, mtime), e, s, g, part in zip(
                manifest["path"], stats, manifest["emotion"], manifest["speaker"], manifest["gender"], manifest["split"]
            )
        ],
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


def extract_features(
    manifest: pd.DataFrame,
    *,
    features: FeatureConfig,
    augment: AugmentConfig | None = None,
    cache_dir: str | os.PathLike = "features",
    seed: int = 0,
    split_settings: dict | None = None,
    corpora: list[str] | None = None,
    jobs: int = -1,
    scheduler: str | None = None,
    strict: bool = False,
    progress: bool = True,
    shift: str | None = None,
) -> ExtractResult:
    """Extract (or find in the cache) the feature set of a split manifest.

    Parameters
    ----------
    manifest : pd.DataFrame
        Manifest columns plus ``split``.
    features, augment : FeatureConfig, AugmentConfig
    cache_dir : path
        Parent of feature-set folders.
    seed : int
        Seeds every augmentation draw (per file and view, so order and ``jobs`` do not matter).
    split_settings : dict
        How the split was made (method, fractions, seed), recorded and fingerprinted.
    jobs : int
        Worker processes (joblib); -1 = all cores.
    scheduler : str, optional
        Run the chunks on a Dask cluster through joblib's Dask backend: a scheduler
        address (``tcp://host:8786``) or ``"local"`` for a `distributed.LocalCluster` of
        ``jobs`` worker processes on 127.0.0.1.  Workers need this package and the audio
        at the same paths; the cache, fingerprint, resume and errors are the same as
        with local workers, and so are the arrays (byte for byte).
    strict : bool
        Fail (keeping the finished chunks for a rerun) if any file fails.
    progress : bool
        Show a tqdm bar (only on a terminal).
    shift : str, optional
        Put every file through this `ser_keras.signal.shifts` condition, drawn from ``seed`` (the
        robustness benchmark's feature sets); part of the fingerprint.

    Returns
    -------
    ExtractResult
    """
    augment = augment or AugmentConfig(recipes=())
    split_settings = split_settings or {}
    started = time.perf_counter()
    digest = fingerprint(manifest, features=features, augment=augment, split=split_settings, seed=seed, shift=shift)
    cache_dir = Path(cache_dir)
    final = cache_dir / f"{features.kind}-{digest}"
    if verified(final):
        return ExtractResult(final, cache_hit=True, seconds=time.perf_counter() - started)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        lock = locked(cache_dir / f".{final.name}.lock")
        lock.__enter__()
    except OSError as exc:
        raise SerError(f"{cache_dir}: cannot write the feature cache ({exc.strerror or exc})") from None
    try:
        if verified(final):  # another process finished it while we waited
            return ExtractResult(final, cache_hit=True, seconds=time.perf_counter() - started)
        if final.exists():  # a damaged set of ours (truncated or edited arrays): set it aside, extract again
            damaged = cache_dir / f".{final.name}.damaged-{os.getpid()}"
            os.replace(final, damaged)
            shutil.rmtree(damaged, ignore_errors=True)
        partial = cache_dir / f".{final.name}.partial"
        chunk_dir = partial / "chunks"
        chunk_dir.mkdir(parents=True, exist_ok=True)
        items = plan_items(manifest, augment)
        items[KEY_COLUMN] = item_keys(items, features=features, augment=augment, seed=seed, shift=shift)
        records = items[["path", "source", "view_index"]].to_dict("records")
        for record in records:  # workers may be reused from another working directory: give them absolute paths
            record["path"] = os.path.abspath(record["path"])
        starts = list(range(0, len(records), CHUNK_SIZE))
        todo = [i for i, _ in enumerate(starts) if not chunk_ok(chunk_dir / chunk_name(i))]
        todo_positions = [p for i in todo for p in range(starts[i], min(starts[i] + CHUNK_SIZE, len(records)))]
        found = find_rows(
            cache_dir, features=features, keys=[items.at[p, KEY_COLUMN] for p in todo_positions], exclude=final
        )
        for position, location in found.items():  # read by `run_chunks`, a chunk at a time
            records[todo_positions[position]]["reuse"] = location
        run_chunks(
            todo,
            starts,
            records,
            chunk_dir,
            features=features,
            augment=augment,
            seed=seed,
            shift=shift,
            jobs=jobs,
            scheduler=scheduler,
            progress=progress,
        )
        try:
            ok, errors = assemble(items, starts, chunk_dir, partial, features=features)
        except DiskFullError as exc:
            raise DiskFullError(f"{exc}; finished chunks are kept, rerun to resume") from None
        if strict and errors:
            raise SerError(
                f"{len(errors)} file(s) failed with --strict, first: {errors[0]}; rerun without --strict to skip them"
            )
        if not ok.any():
            raise SerError(f"no file could be extracted; first error: {errors[0] if errors else 'none'}")
        config = {
            "format": FORMAT_VERSION,
            "fingerprint": digest,
            "package_version": __version__,
            "library_versions": library_versions(
                ("numpy", "scipy", "librosa", "soundfile", "soxr", "pandas", "scikit-learn")
            ),
            "features": features.to_dict(),
            "feature_names": features.feature_names(),
            "augment": augment.to_dict(),
            "split": split_settings,
            "seed": seed,
            "shift": shift,
            "corpora": corpora or [],
            "labels": ordered_labels(manifest["emotion"]),
            "counts": {s: int(((items["split"] == s) & ok).sum()) for s in SPLITS},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        config["arrays"] = {f.name: array_digest(f) for f in sorted(partial.glob("*.npy"))}
        atomic_write_json(partial / "config.json", config)
        shutil.rmtree(chunk_dir)
        os.replace(partial, final)
    except OSError as exc:  # disk full, read-only cache, a file where a folder should be: one line
        if exc.errno is None:
            raise
        if exc.errno in NO_SPACE:
            raise SerError(
                f"{disk_full(exc.filename or cache_dir)}; finished chunks are kept, rerun to resume"
            ) from None
        raise SerError(
            f"{cache_dir}: cannot write the feature cache ({exc.strerror}); finished chunks are kept, rerun to resume"
        ) from None
    finally:
        lock.__exit__(None, None, None)
    return ExtractResult(
        final,
        cache_hit=False,
        n_items=int(ok.sum()),
        n_reused=len(found),
        n_errors=len(errors),
        seconds=time.perf_counter() - started,
        errors=errors,
    )


class FeatureSet:
    """A finished feature-set folder, read lazily (arrays memory-mapped)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        config_path = self.path / "config.json"
        if not config_path.is_file():
            raise ParameterError(f"{self.path}: not a feature set (no config.json)")
        try:
            self.config = json.loads(config_path.read_text())
            self.features = FeatureConfig.from_dict(self.config["features"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ParameterError(f"{config_path}: damaged feature-set config ({exc})") from None
        for name, record in self.config.get("arrays", {}).items():
            size = (self.path / name).stat().st_size if (self.path / name).is_file() else -1
            if size != record["bytes"]:
                raise ParameterError(
                    f"{self.path / name}: damaged cached array ({size} bytes, expected "
                    f"{record['bytes']}); delete the folder and extract again"
                )
        self.labels: list[str] = list(self.config["labels"])

    @property
    def manifest(self) -> pd.DataFrame:
        return pd.read_csv(self.path / "manifest.csv", dtype={"speaker": str, "statement": str, "repetition": str})

    @property
    def errors(self) -> pd.DataFrame:
        return pd.read_csv(self.path / "errors.csv")

    def arrays(self, split: str, *, mmap: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``(X, y)`` of one split: ``X`` [shape=(n, \\*feature shape), float32], ``y`` [shape=(n,), int64]."""
        if split not in SPLITS:
            raise ParameterError(f"unknown split {split!r}")
        mode = "r" if mmap else None
        return np.load(self.path / f"X_{split}.npy", mmap_mode=mode), np.load(self.path / f"y_{split}.npy")
