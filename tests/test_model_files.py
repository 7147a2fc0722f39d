"""Model files from strangers: bounded before they are read, and checked against ``run.json`` after.

The crafted files are made here, small on disk; the bombs among them inflate past what a run can
hold, and the refusals are asserted under a memory ceiling (``RLIMIT_AS``) in a fresh process."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from ser_keras.errors import ParameterError
from ser_keras.runs.model_files import load_estimator

N_FEATURES, N_LABELS = 12, 4
OPTIONS = SimpleNamespace(C=None, class_weight=None, lr=1e-3, epochs=5, seed=0, group_balance=False)


def _fitted(model: str):
    from ser_keras.features.config import FeatureConfig
    from ser_keras.training.fit_sklearn import fit_pipeline

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, N_FEATURES))
    y = np.arange(60) % N_LABELS
    return fit_pipeline(model, X + y[:, None], y, OPTIONS, FeatureConfig.for_kind("stats"))


def _dump(estimator, path: Path) -> Path:
    import skops.io as sio

    sio.dump(estimator, path)
    return path


def _load(path: Path, model: str):
    return load_estimator(path, model=model, n_features=N_FEATURES, n_labels=N_LABELS, n_rows=60)


@pytest.mark.parametrize("model", ["logreg", "svm", "mlp", "knn"])
def test_every_baseline_loads_and_scores_as_saved(model, tmp_path):
    pipeline = _fitted(model)
    loaded = _load(_dump(pipeline, tmp_path / "model.skops"), model)
    X = np.random.default_rng(1).normal(size=(5, N_FEATURES))
    np.testing.assert_allclose(loaded.predict_proba(X), pipeline.predict_proba(X))


def _svm_counts(p):
    p[-1]._n_support = p[-1]._n_support + 1


def _svm_support(p):
    p[-1].support_ = p[-1].support_ + 10_000


def _knn_targets(p):
    p[-1]._y = p[-1]._y + 50


def _knn_rows(p):
    p[-1]._fit_X = p[-1]._fit_X[:, :3]


def _mlp_layer(p):
    p[-1].coefs_[1] = p[-1].coefs_[1][:5]


def _logreg_coef(p):
    p[-1].coef_ = np.zeros((N_LABELS, N_FEATURES + 7))


def _scaler(p):
    p[0].mean_ = p[0].mean_[:4]


def _classes(p):
    p[-1].classes_ = np.array([0, 1, 2, 99])


@pytest.mark.parametrize(
    "model, tamper, words",
    [
        ("svm", _svm_counts, "support counts do not add up"),
        ("svm", _svm_support, "support_ indexes outside"),
        ("knn", _knn_targets, "targets index outside"),
        ("knn", _knn_rows, "rows are not 12 columns"),
        ("mlp", _mlp_layer, "layer 1 does not take"),
        ("logreg", _logreg_coef, "coef_ is (4, 19)"),
        ("logreg", _scaler, "StandardScaler.mean_"),
    ],
)
def test_a_fitted_array_that_could_be_read_out_of_bounds_is_refused(model, tamper, words, tmp_path):
    pipeline = _fitted(model)
    tamper(pipeline)
    path = _dump(pipeline, tmp_path / "model.skops")
    with pytest.raises(ParameterError, match="not a .* model of this run") as caught:
        _load(path, model)
    assert str(path) in str(caught.value) and words in str(caught.value), str(caught.value)


def test_a_model_predicting_more_classes_than_the_run_names_points_at_run_json(tmp_path):
    pipeline = _fitted("logreg")
    pipeline[-1].classes_ = np.array([0, 1, 2, 99])
    with pytest.raises(ParameterError, match="labels has 4 names, but the model predicts class 99") as caught:
        _load(_dump(pipeline, tmp_path / "model.skops"), "logreg")
    assert str(caught.value).startswith(str(tmp_path / "run.json"))


def test_a_model_of_another_kind_or_width_is_refused(tmp_path):
    path = _dump(_fitted("svm"), tmp_path / "model.skops")
    with pytest.raises(ParameterError, match="its pipeline is StandardScaler -> SVC"):
        _load(path, "logreg")
    with pytest.raises(ParameterError, match="takes 12 columns, the run's features have 30"):
        load_estimator(path, model="svm", n_features=30, n_labels=N_LABELS, n_rows=60)


def test_a_knn_search_tree_is_never_trusted(tmp_path):
    """skops refuses scikit-learn's ``Tree`` because its index arrays cannot be checked; KD-trees and
    ball trees are the same: a crafted one made kNN read out of bounds."""
    pipeline = _fitted("knn")
    pipeline[-1].set_params(algorithm="kd_tree")
    pipeline.fit(np.random.default_rng(0).normal(size=(60, N_FEATURES)), np.arange(60) % N_LABELS)
    path = _dump(pipeline, tmp_path / "model.skops")
    with pytest.raises(ParameterError, match="does not trust .*KDTree"):
        _load(path, "knn")


def _bomb(path: Path, member: str, size: int, *, keep: Path | None = None) -> Path:
    """An archive whose ``member`` inflates to ``size`` zero bytes (the other members copied from ``keep``)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        if keep is not None:
            with zipfile.ZipFile(keep) as source:
                for info in source.infolist():
                    if info.filename != member:
                        out.writestr(info, source.read(info))
        with out.open(member, "w", force_zip64=True) as handle:
            block = bytes(1 << 24)
            for _ in range(size // len(block)):
                handle.write(block)
    return path


def _predict_under_ceiling(run: Path, clip: Path, ceiling_gb: float = 2.0) -> subprocess.CompletedProcess:
    """``ser-keras predict`` in a fresh process whose address space is capped at ``ceiling_gb``."""
    limit = int(ceiling_gb * 1024**3)
    code = "import sys; from ser_keras.cli.main import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, "predict", str(run), str(clip)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)),
    )


@pytest.mark.parametrize("member", ["schema.json", "npy"])
def test_a_skops_decompression_bomb_is_refused_before_it_inflates(member, run_copy, clip, tmp_path):
    model = run_copy / "model.skops"
    with zipfile.ZipFile(model) as archive:
        name = member if member == "schema.json" else next(n for n in archive.namelist() if n.endswith(".npy"))
    size = model.stat().st_size
    _bomb(tmp_path / "bomb.skops", name, 1536 << 20, keep=model).replace(model)
    assert model.stat().st_size < 8 << 20 and size < 8 << 20  # small on disk, 1.5 GB inflated
    done = _predict_under_ceiling(run_copy, clip)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(model) in lines[0] and "inflates to" in lines[0], lines


def test_a_npy_header_promising_more_than_its_member_holds_is_refused(run_copy, clip, tmp_path):
    model = run_copy / "model.skops"
    crafted = tmp_path / "crafted.skops"
    with zipfile.ZipFile(model) as source, zipfile.ZipFile(crafted, "w") as out:
        name = next(n for n in source.namelist() if n.endswith(".npy"))
        for info in source.infolist():
            data = source.read(info)
            if info.filename == name:
                import io

                from numpy.lib import format as npy

                buffer = io.BytesIO()
                npy.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": (200_000_000,)})
                data = buffer.getvalue() + bytes(64)
            out.writestr(info, data)
    crafted.replace(model)
    done = _predict_under_ceiling(run_copy, clip)
    assert done.returncode == 2, done.stderr
    assert "claims 1,600,000,000 bytes of data but holds" in done.stderr and str(model) in done.stderr


@pytest.mark.parametrize("member", ["config.json", "model.weights.h5"])
def test_a_keras_decompression_bomb_is_refused_before_it_inflates(member, run_copy, clip, tmp_path):
    import keras

    inputs = keras.Input(shape=(4,))
    keras.Model(inputs, keras.layers.Dense(6, activation="softmax")(inputs)).save(tmp_path / "small.keras")
    model = run_copy / "model.keras"
    _bomb(model, member, 1536 << 20, keep=tmp_path / "small.keras")
    (run_copy / "model.skops").unlink()
    done = _predict_under_ceiling(run_copy, clip, ceiling_gb=6.0)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(model) in lines[0] and member in lines[0] and "inflates to" in lines[0], lines


def test_keras_weights_whose_datasets_promise_more_than_they_hold_are_refused(tmp_path):
    import h5py

    from ser_keras.runs.model_files import check_weights

    weights = tmp_path / "model.weights.h5"
    with h5py.File(weights, "w") as store:
        store.create_dataset("layers/dense/vars/0", shape=(20_000, 20_000), dtype="f4", compression="gzip")
    archive = tmp_path / "model.keras"
    with zipfile.ZipFile(archive, "w") as out:
        out.write(weights, "model.weights.h5")
        out.writestr("config.json", json.dumps({}))
    with pytest.raises(ParameterError, match="compressed or object dataset"):
        check_weights(archive)


def test_a_run_saved_before_the_layout_says_to_retrain(tmp_path):
    """A group-balanced logreg saved by 0.1.0 names ``ser_keras.fit_sklearn.scale_columns``, which has moved."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from ser_keras.training.fit_sklearn import scale_columns

    weights = FunctionTransformer(scale_columns, kw_args={"weights": np.ones(N_FEATURES)})
    rng = np.random.default_rng(0)
    pipeline = make_pipeline(StandardScaler(), weights, LogisticRegression())
    pipeline.fit(rng.normal(size=(40, N_FEATURES)), np.arange(40) % N_LABELS)
    model = _dump(pipeline, tmp_path / "model.skops")
    assert _load(model, "logreg")[1].func is scale_columns  # today's name loads
    with zipfile.ZipFile(model) as source:
        members = {info.filename: source.read(info) for info in source.infolist()}
    old = members["schema.json"].replace(b"ser_keras.training.fit_sklearn", b"ser_keras.fit_sklearn")
    assert old != members["schema.json"]
    with zipfile.ZipFile(model, "w") as out:
        for name, data in {**members, "schema.json": old}.items():
            out.writestr(name, data)
    with pytest.raises(ParameterError, match="saved by an earlier ser-keras .*fit_sklearn.scale_columns.*retrain"):
        _load(model, "logreg")
