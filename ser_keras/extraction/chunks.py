"""The work of one extraction: chunks of items computed by workers, then assembled into a set's arrays.

An item is a file in one view (`ser_keras.extraction.extract.plan_items`).  `extract_chunk` loads,
augments, shifts and featurises `CHUNK_SIZE` of them in a worker process; `run_chunks` sends
the chunks to local workers or a Dask cluster and saves each as it finishes, so a killed
extraction resumes; `assemble` writes the per-split arrays, the manifest and the error list
from the saved chunks.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings

import numpy as np
import pandas as pd

from ..data.corpora import MANIFEST_COLUMNS
from ..data.emotions import ordered_labels
from ..data.splits import SPLITS
from ..errors import ParameterError
from ..features.registry import FeatureConfig, compute
from ..files import atomic_write_bytes, check_free_space, write_csv
from ..signal.audio import fix_length, load
from ..signal.augment import AugmentConfig, apply_recipe
from ..signal.shifts import apply_shift
from .feature_cache import chunk_name
from .jit_cache import first_use
from .reuse import RowReader
from .workers import dask_client, exit_with_parent

#: The last entry of a shifted item's seed, so its draws never coincide with its augmentation's.
SHIFT_STREAM = 1
#: Items (file x view) per checkpoint; fixed so that resumed runs cut work identically.
CHUNK_SIZE = 48


def extract_chunk(
    items: list[dict], *, features: FeatureConfig, augment: AugmentConfig, seed: int, shift: str | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Load, augment, shift and featurise one chunk of items (runs in a worker process).

    Parameters
    ----------
    items : list of dict
        Rows of `plan_items` (``path``, ``source``, ``view_index``); an item with a ``row``
        (its features, found in an earlier set by `ser_keras.extraction.reuse`) is taken as it is.
    shift : str, optional
        A `ser_keras.signal.shifts` name every item goes through (after its augmentation), seeded by
        ``seed`` and the item.

    Returns
    -------
    ok : np.ndarray [shape=(k,), dtype=int]
        Positions in ``items`` that succeeded.
    X : np.ndarray [shape=(k, *features.output_shape())]
    errors : list of str
        ``"position\\tmessage"`` for each failed item.

    Notes
    -----
    BLAS runs on one thread here, so a row is the same whichever process computes it and
    however many threads that process's BLAS would use (another thread count sums in another
    order): ``--jobs 1``, local workers and a Dask cluster give the same arrays.
    """
    import scipy.linalg  # noqa: F401 - loads SciPy's own BLAS now: the limit reaches the libraries loaded
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _featurise(items, features=features, augment=augment, seed=seed, shift=shift)


def _featurise(items, *, features, augment, seed, shift):
    """`extract_chunk`'s work, with BLAS already on one thread."""
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


def run_chunks(todo, starts, records, chunk_dir, *, features, augment, seed, shift, jobs, scheduler, progress) -> None:
    """Compute the chunks numbered ``todo`` of ``records`` into ``chunk_dir``, one file per chunk, atomically.

    Chunk ``i`` is ``records[starts[i] : starts[i] + CHUNK_SIZE]``.  Chunks whose every row was
    found in an earlier set are written here; the others go to ``jobs`` local workers or to
    the Dask cluster at ``scheduler``, and are saved as they finish, in any order.
    """
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
    with bar:
        for index in sorted(reused):
            save(*run(index))
        if not todo:
            return
        n_jobs = min(os.cpu_count() or 1, len(todo)) if jobs in (None, -1, 0) else max(1, min(jobs, len(todo)))
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


def assemble(items, starts, chunk_dir, partial, *, features) -> tuple[np.ndarray, list[str]]:
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
