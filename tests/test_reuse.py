"""An extraction takes the rows an earlier feature set in its cache already holds (`ser_keras.extraction.reuse`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ser_keras.data.corpora import build_manifest
from ser_keras.data.splits import SPLITS, assign_split
from ser_keras.extraction.extract import FeatureSet, extract_features
from ser_keras.features.config import FeatureConfig
from ser_keras.signal.augment import AugmentConfig

from conftest import small_csv, tone, write_wav


@pytest.fixture
def corpus(tmp_path):
    return build_manifest([f"csv={small_csv(tmp_path / 'corpus')}"])


def _extract(manifest, cache, *, kind="functionals", seed=0, augment=None):
    return extract_features(
        manifest,
        features=FeatureConfig.for_kind(kind),
        augment=augment or AugmentConfig(recipes=(("speed",),)),  # one speed view per training file
        cache_dir=cache,
        seed=seed,
        jobs=1,
        progress=False,
    )


def _same_set(a, b):
    for split in SPLITS:
        for name in (f"X_{split}.npy", f"y_{split}.npy"):
            assert (a.path / name).read_bytes() == (b.path / name).read_bytes(), name
    assert a.manifest.equals(b.manifest)


def test_cv_after_extract_takes_the_clean_rows_and_the_same_draws_and_matches_a_fresh_set(corpus, tmp_path):
    cache = tmp_path / "cache"
    split = assign_split(corpus, method="speaker", seed=0)
    first = _extract(split, cache)
    n_train = int((split["split"] == "train").sum())
    assert first.n_reused == 0 and first.n_items == len(corpus) + n_train

    every_file_trains = corpus.assign(split="train")  # as `cv` extracts: each file with its view
    second = _extract(every_file_trains, cache)
    # every clean row, and the views of the files that trained before (same seed, file and draw)
    assert second.n_reused == len(corpus) + n_train
    assert second.n_items == 2 * len(corpus)
    fresh = _extract(every_file_trains, tmp_path / "fresh")
    assert fresh.n_reused == 0
    _same_set(FeatureSet(second.path), FeatureSet(fresh.path))


def test_another_seed_takes_only_the_clean_rows(corpus, tmp_path):
    cache = tmp_path / "cache"
    every_file_trains = corpus.assign(split="train")
    _extract(every_file_trains, cache, seed=0)
    other = _extract(every_file_trains, cache, seed=1)
    assert other.n_reused == len(corpus)  # the views are other draws: computed again
    _same_set(FeatureSet(other.path), FeatureSet(_extract(every_file_trains, tmp_path / "fresh", seed=1).path))


def test_a_changed_file_or_a_damaged_set_is_not_reused(corpus, tmp_path):
    cache = tmp_path / "cache"
    plain = AugmentConfig(recipes=())
    test_only = corpus.assign(split="test")
    first = _extract(test_only, cache, augment=plain)
    write_wav(Path(corpus["path"].iloc[0]), tone(seconds=3.2, freq=333.0))  # same name, new content
    changed = _extract(test_only, cache, augment=plain)
    assert changed.path != first.path and changed.n_reused == len(corpus) - 1
    X_new = np.load(changed.path / "X_test.npy")
    assert not np.array_equal(X_new[0], np.load(first.path / "X_test.npy")[0])

    # a set whose arrays no longer match their checksums gives nothing
    for folder in (first.path, changed.path):
        X = np.load(folder / "X_test.npy")
        X[:, 0] += 1.0
        np.save(folder / "X_test.npy", X)
    more = corpus.assign(split="test").iloc[::-1]  # another manifest order: another set, the same rows
    assert _extract(more, cache, augment=plain).n_reused == 0


def test_kinds_computed_in_batches_reuse_nothing(corpus, tmp_path):
    cache = tmp_path / "cache"
    _extract(corpus.assign(split="test"), cache, kind="stats")
    again = _extract(corpus.assign(split="train"), cache, kind="stats")
    assert again.n_reused == 0 and again.n_items == 2 * len(corpus)


def test_each_row_records_its_item_key(corpus, tmp_path):
    result = _extract(assign_split(corpus, method="speaker", seed=0), tmp_path / "cache")
    manifest = FeatureSet(result.path).manifest
    assert manifest["item_key"].str.fullmatch("[0-9a-f]{20}").all() and manifest["item_key"].is_unique
    assert "item_key" not in json.loads((result.path / "config.json").read_text())["feature_names"]
