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

import contextlib
import hashlib
import io
import json
import os
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .audio import fix_length, load
from .augment import ALGORITHM_VERSION as AUGMENT_ALGORITHM_VERSION
from .augment import AugmentConfig, apply_recipe
from .corpora import MANIFEST_COLUMNS
from .emotions import ordered_labels
from .errors import ParameterError, SerError
from .feature_cache import array_digest, chunk_name, chunk_ok, locked, verified
from .features import FeatureConfig, compute
from .files import (
    NO_SPACE,
    DiskFullError,
    atomic_write_bytes,
    atomic_write_json,
    check_free_space,
    disk_full,
    write_csv,
)
from .jit_cache import first_use
from .manifest import file_fingerprints
from .provenance import library_versions
from .reuse import KEY_COLUMN, RowReader, find_rows, item_keys
from .shifts import SHIFT_VERSION, apply_shift
from .splits import SPLITS
from .workers import dask_client, exit_with_parent

#: The last entry of a shifted item's seed, so its draws never coincide with its augmentation's.
SHIFT_STREAM = 1
#: Items (file x view) per checkpoint; fixed so that resumed runs cut work identically.
CHUNK_SIZE = 48
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
    names = features.kind_spec.names(features) if features.kind_spec.names else []
    key = {
        "format": FORMAT_VERSION,
        "version": __version__,
        "features": features.to_dict(),
        "columns": [list(features.output_shape()), hashlib.sha256("\n".join(names).encode()).hexdigest()],
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


def extract_chunk(
    items: list[dict], *, features: FeatureConfig, augment: AugmentConfig, seed: int, shift: str | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Load, augment, shift and featurise one chunk of items (runs in a worker process).

    Parameters
    ----------
    items : list of dict
        Rows of `plan_items` (``path``, ``source``, ``view_index``); an item with a ``row``
        (its features, found in an earlier set by `ser_keras.reuse`) is taken as it is.
    shift : str, optional
        A `ser_keras.shifts` name every item goes through (after its augmentation), seeded by
        ``seed`` and the item.

    Returns
    -------
    ok : np.ndarray [shape=(k,), dtype=int]
        Positions in ``items`` that succeeded.
    X : np.ndarray [shape=(k, *features.output_shape())]
    errors : list of str
        ``"position\\tmessage"`` for each failed item.
    """
    signals, ok, errors = [], [], []
    given = {position: item["row"] for position, item in enumerate(items) if "row" in item}
    loaded: dict[str, np.ndarray | str] = {}
    if not given or len(given) < len(items):  # a chunk of reused rows only computes nothing
        with first_use(("extract", features.kind, augment.recipes, shift)):
            _warm_up(features=features, augment=augment, seed=seed, shift=shift)
    for position, item in enumerate(items):
        if position in given:
            continue
        path = item["path"]
        if path not in loaded:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    loaded[path] = load(
                        path,
                        sr=features.sr,
                        offset=features.offset,
                        duration=features.duration,
                        min_duration=features.min_duration,
                        on_silence="error",
                    )
            except ParameterError as exc:
                loaded[path] = str(exc)
        y = loaded[path]
        if isinstance(y, str):
            errors.append(f"{position}\t{y}")
            continue
        try:
            y = _prepare(y, item, features=features, augment=augment, seed=seed, shift=shift)
        except (ParameterError, ValueError) as exc:
            errors.append(f"{position}\t{exc}")
            continue
        signals.append(y)
        ok.append(position)
    X = compute(signals, config=features) if signals else np.empty((0, *features.output_shape()), np.float32)
    finite = np.isfinite(X).reshape(len(X), -1).all(axis=1) if len(X) else np.ones(0, dtype=bool)
    if not finite.all():  # never write a non-finite feature
        for i in np.flatnonzero(~finite):
            errors.append(f"{ok[i]}\t{items[ok[i]]['path']}: non-finite feature values")
        X = X[finite]
        ok = [p for p, keep in zip(ok, finite) if keep]
    if given:
        rows = dict(zip(ok, X))
        rows.update(given)
        ok = sorted(rows)
        X = np.stack([rows[p] for p in ok]).astype(np.float32, copy=False)
    return np.asarray(ok, dtype=np.int64), X, errors


def _prepare(
    y: np.ndarray, item: dict, *, features: FeatureConfig, augment: AugmentConfig, seed: int, shift: str | None
) -> np.ndarray:
    """One item's waveform as `compute` takes it: its view's augmentation, the shift, the length.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), dtype=float32]
        The loaded file.
    item : dict
        A row of `plan_items` (``source``, ``view_index``; ``path`` for messages).

    Returns
    -------
    y_ready : np.ndarray [shape=(m,), dtype=float32]
        ``m = features.n_samples`` for fixed-length kinds.

    Raises
    ------
    ParameterError, ValueError
        The item cannot be used (too short for one analysis frame, a failed step).
    """
    if item["view_index"] > 0:
        rng = np.random.default_rng([seed, int(item["source"]), int(item["view_index"])])
        y = apply_recipe(y, augment.recipes[item["view_index"] - 1], sr=features.sr, rng=rng, config=augment)
    if shift:
        rng = np.random.default_rng([seed, int(item["source"]), int(item["view_index"]), SHIFT_STREAM])
        y = apply_shift(y, shift, sr=features.sr, rng=rng)
    if features.fixed_length:
        y = fix_length(y, size=features.n_samples, mode="centre")
    elif y.shape[0] < features.n_fft // 2:
        raise ParameterError(f"{item['path']}: too short for one analysis frame")
    return y


def _warm_up(*, features: FeatureConfig, augment: AugmentConfig, seed: int, shift: str | None) -> None:
    """Run every view and the shift of this extraction once on a synthetic second of a voiced tone.

    Called under `first_use`, so numba compiles (or loads) librosa's kernels for these code paths
    while no other process does; the real items then only run compiled code.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(features.sr, dtype=np.float32) / features.sr
    tone = 0.3 * np.sin(2 * np.pi * 160 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    y = (tone + 0.01 * rng.standard_normal(t.shape[0])).astype(np.float32)
    signals = []
    for view_index in range(len(augment.recipes) + 1):
        try:
            item = {"path": "warm-up", "source": 0, "view_index": view_index}
            signals.append(_prepare(y, item, features=features, augment=augment, seed=seed, shift=shift))
        except (ParameterError, ValueError):
            continue
    for signal in signals:
        with contextlib.suppress(ParameterError, ValueError):
            compute([signal], config=features)


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
        Put every file through this `ser_keras.shifts` condition, drawn from ``seed`` (the
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
        items[KEY_COLUMN] = item_keys(
            items, features=features, augment=augment, seed=seed, shift=shift, shift_version=SHIFT_VERSION
        )
        records = items[["path", "source", "view_index"]].to_dict("records")
        for record in records:  # workers may be reused from another working directory: give them absolute paths
            record["path"] = os.path.abspath(record["path"])
        starts = list(range(0, len(records), CHUNK_SIZE))
        todo = [i for i, _ in enumerate(starts) if not chunk_ok(chunk_dir / chunk_name(i))]
        todo_positions = [p for i in todo for p in range(starts[i], min(starts[i] + CHUNK_SIZE, len(records)))]
        found = find_rows(
            cache_dir, features=features, keys=[items.at[p, KEY_COLUMN] for p in todo_positions], exclude=final
        )
        for position, location in found.items():  # read by `_run_chunks`, a chunk at a time
            records[todo_positions[position]]["reuse"] = location
        _run_chunks(
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
            ok, errors = _assemble(items, starts, chunk_dir, partial, features=features)
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


def _run_chunks(todo, starts, records, chunk_dir, *, features, augment, seed, shift, jobs, scheduler, progress) -> None:
    from joblib import Parallel, delayed, parallel_config
    from tqdm import tqdm

    if not todo:
        return
    total = sum(min(CHUNK_SIZE, len(records) - starts[i]) for i in todo)
    bar = tqdm(total=total, unit="file", desc="extract", disable=not (progress and sys.stderr.isatty()), smoothing=0.1)

    settings = dict(features=features, augment=augment, seed=seed, shift=shift)

    read_row = RowReader()

    def chunk_of(index):  # rows found in earlier sets travel with their items
        chunk = records[starts[index] : starts[index] + CHUNK_SIZE]
        return [_with_row(item, read_row) if "reuse" in item else item for item in chunk]

    def run(index):
        return _extract_indexed(index, chunk_of(index), **settings)

    def tasks(indices):  # each task carries its own chunk, not the whole list of records
        return (delayed(_extract_indexed)(i, chunk_of(i), **settings) for i in indices)

    def save(index, result):
        ok, X, errors = result
        buffer = io.BytesIO()
        np.savez(buffer, ok=ok, X=X, errors=np.asarray(errors, dtype=str))
        atomic_write_bytes(chunk_dir / chunk_name(index), buffer.getvalue())
        bar.update(min(CHUNK_SIZE, len(records) - starts[index]))

    # chunks whose every row was found in an earlier set need no worker; the rest go to the workers
    reused = {i for i in todo if all("reuse" in item for item in records[starts[i] : starts[i] + CHUNK_SIZE])}
    todo = [i for i in todo if i not in reused]
    n_jobs = min(os.cpu_count() or 1, len(todo)) if jobs in (None, -1, 0) else max(1, min(jobs, len(todo) or 1))
    with bar:
        for index in sorted(reused):
            save(*run(index))
        if not todo:
            return
        # a cluster is reached before any work, so a wrong address fails at once
        with dask_client(scheduler, workers=n_jobs) if scheduler is not None else contextlib.nullcontext():
            # each process warms numba's cache under one lock before its first chunk (`extract_chunk`)
            if scheduler is not None:
                with parallel_config(backend="dask"):
                    for index, result in Parallel(return_as="generator_unordered", batch_size=1)(tasks(todo)):
                        save(index, result)
                return
            if n_jobs == 1:
                for index in todo:
                    save(*run(index))
                return
            # workers watch this process and exit with it (a killed extract leaves none behind)
            with parallel_config(backend="loky", initializer=exit_with_parent, initargs=(os.getpid(),)):
                tasks_done = Parallel(n_jobs=n_jobs, return_as="generator_unordered", batch_size=1)(tasks(todo))
                for index, result in tasks_done:
                    save(index, result)


def _with_row(item: dict, read_row: RowReader) -> dict:
    """The item as a worker takes it: its reused row in place of where that row lies."""
    ready = {name: value for name, value in item.items() if name != "reuse"}
    ready["row"] = read_row(*item["reuse"])
    return ready


def _extract_indexed(index: int, chunk: list[dict], **kwargs) -> tuple[int, tuple]:
    """``(index, extract_chunk(chunk))``: one task of a worker."""
    return index, extract_chunk(chunk, **kwargs)


def _assemble(items, starts, chunk_dir, partial, *, features) -> tuple[np.ndarray, list[str]]:
    """Write the per-split arrays, manifest and error report from the chunk files; return the ok mask."""
    ok = np.zeros(len(items), dtype=bool)
    failures: list[tuple[int, str]] = []
    for i, start in enumerate(starts):
        with np.load(chunk_dir / chunk_name(i)) as chunk:
            ok[start + chunk["ok"]] = True
            for line in chunk["errors"]:
                position, message = str(line).split("\t", 1)
                failures.append((start + int(position), message))
    labels = ordered_labels(items["emotion"])
    label_index = {name: i for i, name in enumerate(labels)}
    targets = {}
    counts = {split: int(((items["split"] == split) & ok).sum()) for split in SPLITS}
    row_bytes = 4 * int(np.prod(features.output_shape()))
    # memory-mapped arrays on a full file system fail with SIGBUS, not an error: check first
    check_free_space(partial, sum(counts.values()) * row_bytes, writing=partial / "X_train.npy")
    for split in SPLITS:
        n = counts[split]
        targets[split] = np.lib.format.open_memmap(
            partial / f"X_{split}.npy", mode="w+", dtype=np.float32, shape=(n, *features.output_shape())
        )
    filled = dict.fromkeys(SPLITS, 0)
    for i, start in enumerate(starts):
        with np.load(chunk_dir / chunk_name(i)) as chunk:
            positions, X = start + chunk["ok"], chunk["X"]
        for split in SPLITS:
            rows = items["split"].to_numpy()[positions] == split
            k = int(rows.sum())
            targets[split][filled[split] : filled[split] + k] = X[rows]
            filled[split] += k
    for array in targets.values():
        array.flush()
        del array
    kept = items[ok].copy()
    kept["label"] = kept["emotion"].map(label_index).astype(np.int64)
    for split in SPLITS:
        np.save(partial / f"y_{split}.npy", kept.loc[kept["split"] == split, "label"].to_numpy())
    extras = [c for c in kept.columns if c not in MANIFEST_COLUMNS and c not in ("split", "view", "label")]
    kept[[*MANIFEST_COLUMNS, "split", "view", "label", *extras]].to_csv(
        partial / "manifest.csv", index=False
    )  # read back by FeatureSet: verbatim
    failed = [
        {"path": items.at[p, "path"], "split": items.at[p, "split"], "view": items.at[p, "view"], "reason": message}
        for p, message in failures
    ]
    write_csv(pd.DataFrame(failed, columns=["path", "split", "view", "reason"]), partial / "errors.csv")
    return ok, [f"{f['path']} ({f['view']}): {f['reason']}" for f in failed]


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
        """``(X, y)`` of one split: ``X`` [shape=(n, *feature shape), float32], ``y`` [shape=(n,), int64]."""
        if split not in SPLITS:
            raise ParameterError(f"unknown split {split!r}")
        mode = "r" if mmap else None
        return np.load(self.path / f"X_{split}.npy", mmap_mode=mode), np.load(self.path / f"y_{split}.npy")
