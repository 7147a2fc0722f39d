"""Rows of finished feature sets that a new extraction takes instead of computing them again.

Each planned item (a file in one view, possibly shifted) gets an *item key*: a digest of
everything its feature row depends on — the file (absolute path, size, mtime), the feature
config and the kind's columns, and for an augmented view or a shift the recipe, its
parameters, the seed and the item's draw.  A finished set lists its rows' keys in the
``item_key`` column of its ``manifest.csv``.  A new extraction in the same cache folder
looks for its keys among the verified sets of its kind and copies those rows, so
``cv`` after ``extract``, another fold seed or another augmentation recompute only the
rows that differ.

Only kinds featurised one utterance at a time (`ser_keras.features.registry.FeatureKind.compute_one`)
reuse rows: their rows do not depend on which other clips share a batch, so a set built
from reused rows is byte-identical to one extracted from scratch.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..data.manifest import file_fingerprints
from ..data.splits import SPLITS
from ..signal.augment import ALGORITHM_VERSION as AUGMENT_ALGORITHM_VERSION
from ..signal.shifts import SHIFT_VERSION
from .feature_cache import verified

#: The manifest column holding each row's item key.
KEY_COLUMN = "item_key"


def item_keys(items: pd.DataFrame, *, features, augment, seed: int, shift: str | None) -> list[str]:
    """The item key of each planned item (a row of `ser_keras.extraction.extract.plan_items`).

    Parameters
    ----------
    items : pd.DataFrame
        Columns ``path``, ``source`` and ``view_index``.
    features, augment : FeatureConfig, AugmentConfig
    seed : int
        The extraction's seed (it draws the views and the shift).
    shift : str or None

    Returns
    -------
    keys : list of str [length=len(items)]
        20 hex digits each.
    """
    common = {"version": __version__, "features": features.to_dict(), "columns": features.column_signature()}
    paths = [os.path.abspath(p) for p in items["path"]]
    unique = sorted(set(paths))
    stats = dict(zip(unique, (tuple(int(v) for v in row) for row in file_fingerprints(unique))))
    keys = []
    for path, source, view_index in zip(paths, items["source"], items["view_index"]):
        draw = [int(seed), int(source), int(view_index)]
        key = {
            **common,
            "file": [path, *stats[path]],
            "view": [augment.to_dict(), AUGMENT_ALGORITHM_VERSION, draw] if view_index > 0 else None,
            "shift": [shift, SHIFT_VERSION, draw] if shift else None,
        }
        keys.append(hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20])
    return keys


def find_rows(cache_dir: Path, *, features, keys: list[str], exclude: Path) -> dict[int, tuple[Path, int]]:
    """Where the verified ``features.kind`` sets in ``cache_dir`` hold a row of one of ``keys``.

    Parameters
    ----------
    cache_dir : Path
        The folder of feature sets.
    features : FeatureConfig
        Only sets with this exact config are read, and only for kinds computed one
        utterance at a time (else nothing is reused).
    keys : list of str
        The new extraction's item keys, in plan order.
    exclude : Path
        The set being built (never a source of its own rows).

    Returns
    -------
    where : dict of int -> (Path, int)
        Position in ``keys`` -> the ``X_<split>.npy`` of an older set and the row in it.
    """
    if features.kind_spec.compute_one is None:
        return {}
    wanted: dict[str, list[int]] = {}
    for position, key in enumerate(keys):
        wanted.setdefault(key, []).append(position)
    where: dict[int, tuple[Path, int]] = {}
    for folder in sorted(Path(cache_dir).glob(f"{features.kind}-*")):
        if folder == exclude or not wanted:
            continue
        for split, pairs in _located(folder, features=features, wanted=wanted).items():
            for row, key in pairs:
                for position in wanted.pop(key, []):
                    where[position] = (folder / f"X_{split}.npy", row)
    return where


class RowReader:
    """Rows of older sets' arrays, read through one memory map per file."""

    def __init__(self):
        self._arrays: dict[Path, np.ndarray] = {}

    def __call__(self, path: Path, row: int) -> np.ndarray:
        """The feature row ``row`` of ``path`` [shape=features.output_shape(), dtype=float32], copied."""
        if path not in self._arrays:
            self._arrays[path] = np.load(path, mmap_mode="r")
        return np.array(self._arrays[path][row], dtype=np.float32)


def _located(folder: Path, *, features, wanted: dict[str, list[int]]) -> dict[str, list[tuple[int, str]]]:
    """``split -> [(row, key)]`` of the wanted keys in one finished set, or nothing if it cannot be trusted."""
    try:
        config = json.loads((folder / "config.json").read_text())
        if config.get("features") != features.to_dict():
            return {}
        manifest = pd.read_csv(folder / "manifest.csv", usecols=lambda c: c in ("split", KEY_COLUMN), dtype=str)
    except (OSError, ValueError):
        return {}
    if KEY_COLUMN not in manifest.columns or not manifest[KEY_COLUMN].isin(wanted.keys()).any():
        return {}
    if not verified(folder):  # arrays checked against their checksums before a row is taken
        return {}
    where: dict[str, list[tuple[int, str]]] = {}
    for split in SPLITS:
        part = manifest.loc[manifest["split"] == split, KEY_COLUMN].to_numpy()
        pairs = [(row, key) for row, key in enumerate(part) if key in wanted]
        if pairs:
            where[split] = pairs
    return where
