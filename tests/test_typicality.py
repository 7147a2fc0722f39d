"""How far a clip lies from the training features: the distance, its graph form, its file, and the Predictor
answering "uncertain" with the reason on audio unlike the speech the model was trained on."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ser_keras import ParameterError
from ser_keras.models.typicality import Typicality, distance_graph


def _speech_like(n_rows: int, *, seed: int = 0) -> np.ndarray:
    """Correlated rows ``(n_rows, 60)`` with columns of very different scales, one of them constant."""
    mixing = np.random.default_rng(0).normal(size=(12, 60))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, 12)) @ mixing + 0.3 * rng.normal(size=(n_rows, 60))
    X *= np.logspace(-3, 3, 60)
    X[:, 7] = 2.5
    return X


def test_training_rows_lie_near_one_and_rows_off_the_training_directions_far():
    X = _speech_like(400)
    typical = Typicality.fit(X, n_components=8)
    assert typical.n_used == 59 and typical.components.shape == (8, 60)
    near = typical.distance(_speech_like(200, seed=1))  # new rows of the same distribution
    assert 0.8 < np.median(near) < 1.2
    rng = np.random.default_rng(2)
    scale = X.std(axis=0)
    # each column as typical in size as a training row's, but independent of the others: off the correlations
    scrambled = X[rng.integers(0, 400, size=(200, 60)), np.arange(60)]
    assert (typical.distance(scrambled) > np.quantile(near, 0.95)).mean() > 0.9
    assert (typical.distance(X[:50] + 20 * scale) > 3).all()  # far outside: clipped, but far


def test_the_graph_form_in_float32_equals_float64_and_holds_still_under_tiny_noise():
    import tensorflow as tf

    X = _speech_like(300)
    typical = Typicality.fit(X, n_components=8)
    rows = np.concatenate([_speech_like(40, seed=3), _speech_like(10, seed=4) * 3]).astype(np.float32)
    exact = typical.distance(rows.astype(np.float64))
    graph = distance_graph(typical, tf.constant(rows)).numpy()
    np.testing.assert_allclose(graph, exact, rtol=1e-5)
    rng = np.random.default_rng(5)
    nudged = rows * (1 + 1e-6 * rng.standard_normal(rows.shape)).astype(np.float32)  # float32 rounding, roughly
    np.testing.assert_allclose(typical.distance(nudged), exact, rtol=1e-4)
    constant_moved = rows.copy()
    constant_moved[:, 7] += 1e-3  # a column constant in training says nothing, however it moves
    np.testing.assert_array_equal(typical.distance(constant_moved), typical.distance(rows))


def test_a_typicality_file_round_trips_and_a_bad_one_is_refused_naming_it(tmp_path, monkeypatch):
    import ser_keras.models.typicality as typicality

    typical = Typicality.fit(_speech_like(100), n_components=4)
    path = tmp_path / "typicality.npz"
    typical.save(path)
    again = Typicality.load(path, n_columns=60)
    rows = _speech_like(5, seed=9)
    np.testing.assert_allclose(again.distance(rows), typical.distance(rows), rtol=1e-6)
    with pytest.raises(ParameterError, match=r"typicality.npz: arrays of shapes .* do not fit a run of 61 columns"):
        Typicality.load(path, n_columns=61)
    arrays = dict(np.load(path))
    for name, value, problem in [
        ("mean", np.full(60, np.nan), "not finite"),
        ("inverse_variances", -np.ones(4), "variances must be positive"),
        ("components", np.zeros((4, 59)), "do not fit"),
        ("mean", np.array([object()] * 60, dtype=object), "not a typicality file"),  # a pickle: never loaded
    ]:
        bad = tmp_path / f"bad-{name}.npz"
        np.savez(bad, **{**arrays, name: value})
        with pytest.raises(ParameterError, match=f"{bad.name}: .*{problem}"):
            Typicality.load(bad, n_columns=60)
    extra = tmp_path / "extra.npz"
    np.savez(extra, **arrays, code=np.zeros(1))
    with pytest.raises(ParameterError, match="extra.npz: holds"):
        Typicality.load(extra, n_columns=60)
    monkeypatch.setattr(typicality, "MAX_FILE_BYTES", 1000)  # bounded before anything is read
    with pytest.raises(ParameterError, match=r"typicality.npz: \d+ bytes; a typicality file holds at most 1000"):
        Typicality.load(path, n_columns=60)


@pytest.mark.slow
def test_a_fusion_run_says_uncertain_on_noise_and_answers_its_own_corpus(fusion_run, demo_root, tmp_path):
    import soundfile as sf

    from ser_keras.serving.predict import UNCERTAIN, Predictor

    sidecar = json.loads((fusion_run / "run.json").read_text())
    limit = sidecar["calibration"]["max_distance"]
    assert (fusion_run / "typicality.npz").is_file() and limit > 0
    assert sidecar["calibration"]["max_distance_fitted_on"] == "the validation speakers"
    table = pd.read_csv(fusion_run / "predictions.csv")
    assert (table["distance"] > 0).all() and np.median(table["distance"]) < limit  # unseen speakers, same corpus
    rng = np.random.default_rng(0)
    sr = sidecar["features"]["sr"]
    t = np.arange(2 * sr) / sr
    sounds = {
        "white.wav": 0.1 * rng.standard_normal(2 * sr),
        "brown.wav": 0.1 * np.cumsum(rng.standard_normal(2 * sr)) / np.sqrt(2 * sr),
        "chord.wav": 0.1 * (np.sin(2 * np.pi * 220 * t) + np.sin(2 * np.pi * 330 * t)),
    }
    predictor = Predictor.from_run(fusion_run)
    for name, y in sounds.items():
        sf.write(tmp_path / name, y.astype(np.float32), sr, subtype="FLOAT")
        result = predictor.predict_file(tmp_path / name)
        assert result["distance"] > limit and result["emotion"] == UNCERTAIN, (name, result)
        assert any(
            w.startswith("unlike the speech the model was trained on: distance") for w in result["input_warnings"]
        )
    clip = next(iter(sorted(demo_root.glob("Actor_*/*.wav"))))
    assert predictor.predict_file(clip)["distance"] < 2 * limit  # its own corpus: near
