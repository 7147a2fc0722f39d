"""Calibration error, Brier score and accuracy by coverage: their definitions, and where runs report them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ser_keras.evaluation.calibration import brier_score, expected_calibration_error, risk_coverage

from conftest import one_error_line


def test_a_calibrated_model_has_a_small_ece_and_an_overconfident_one_a_large_one():
    rng = np.random.default_rng(0)
    n, k = 20_000, 4
    confidence = rng.uniform(0.25, 1.0, n)
    top = rng.integers(0, k, n)
    P = np.tile(((1 - confidence) / (k - 1))[:, None], (1, k))
    P[np.arange(n), top] = confidence
    hit = rng.uniform(size=n) < confidence  # right exactly as often as it says
    y = np.where(hit, top, (top + rng.integers(1, k, n)) % k)
    assert expected_calibration_error(P, y) < 0.015
    overconfident = np.zeros_like(P)
    overconfident[np.arange(n), top] = 1.0  # says 1.0 whatever it knows
    assert expected_calibration_error(overconfident, y) == pytest.approx(1 - hit.mean(), abs=1e-9)
    assert brier_score(overconfident, y) == pytest.approx(2 * (1 - hit.mean()))
    assert brier_score(P, y) < brier_score(overconfident, y)


def test_risk_coverage_answers_the_most_confident_first():
    P = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.55, 0.45]])
    y = np.array([0, 0, 1, 1])  # the two confident clips right, the two unsure ones wrong
    table = risk_coverage(P, y, coverages=(1.0, 0.5))
    assert [row["accuracy"] for row in table] == [0.5, 1.0]
    assert [row["n_answered"] for row in table] == [4, 2] and table[1]["threshold"] == 0.8
    with pytest.raises(ValueError, match="class indices"):
        brier_score(P, np.array([0, 1, 2, 0]))


def test_a_run_and_a_cv_report_their_calibration(logreg_run, demo_root, demo_cache, demo_stats, tmp_path, capsys):
    from ser_keras.cli.main import main

    report = json.loads((logreg_run / "report.json").read_text())
    calibration = report["calibration"]
    assert 0 <= calibration["ece"] <= 1 and 0 <= calibration["brier"] <= 2 and calibration["ece_bins"] == 15
    assert [row["coverage"] for row in calibration["risk_coverage"]] == [1.0, 0.9, 0.8, 0.7, 0.5]
    assert calibration["risk_coverage"][0]["accuracy"] == pytest.approx(report["accuracy"])
    assert "ECE (15 bins)" in (logreg_run / "MODEL_CARD.md").read_text()
    args = ["cv", "--quiet", "--corpus", f"demo={demo_root}", "--features", "stats", "--augment", "none"]
    assert (
        main([*args, "--model", "logreg", "--folds", "2", "--cache-dir", str(demo_cache), "--out", str(tmp_path)]) == 0
    )
    cv_dir = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads((tmp_path / cv_dir.rsplit("/", 1)[-1] / "cv.json").read_text())
    eces = [fold["ece"] for fold in summary["folds"]]
    assert summary["mean"]["ece"] == pytest.approx(np.mean(eces)) and "brier" in summary["std"]
    # the cross-fitted calibration of the folds' held-out predictions
    calibration = summary["calibration"]
    assert len(calibration["folds"]) == 2 and calibration["temperature"] > 0
    assert {"ece_before", "ece_after", "brier_before", "brier_after", "coverage"} <= set(calibration["mean"])
    # a Keras run cannot take a logreg cv's temperature, nor a logreg run any
    run_args = ["train", "--quiet", "--features-dir", str(demo_stats.path)]
    for extra, problem in ((["--model", "conv1d"], "a cv of --model logreg"), (["--model", "logreg"], "scikit-learn")):
        assert main([*run_args, *extra, "--calibrate-from", str(tmp_path / cv_dir.rsplit("/", 1)[-1])]) == 2
        one_error_line(capsys, "--calibrate-from", problem)
    assert main([*run_args, "--calibrate-from", str(tmp_path / "nowhere")]) == 2
    one_error_line(capsys, "--calibrate-from", "not a finished cv folder")


def _calibrated(n: int, k: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities right exactly as often as they say, and labels drawn to match."""
    confidence = rng.uniform(1 / k + 0.05, 0.95, n)
    top = rng.integers(0, k, n)
    P = np.tile(((1 - confidence) / (k - 1))[:, None], (1, k))
    P[np.arange(n), top] = confidence
    y = np.where(rng.uniform(size=n) < confidence, top, (top + rng.integers(1, k, n)) % k)
    return P, y


def test_the_fitted_temperature_undoes_an_overconfident_one_and_keeps_every_answer():
    from ser_keras.evaluation.calibration import fit_temperature, scale_probabilities

    P, y = _calibrated(20_000, 6, np.random.default_rng(1))
    overconfident = scale_probabilities(P, 1 / 3)  # sharpened three-fold
    temperature = fit_temperature(overconfident, y)
    assert temperature == pytest.approx(3.0, rel=0.05)
    rescaled = scale_probabilities(overconfident, temperature)
    np.testing.assert_array_equal(rescaled.argmax(axis=1), overconfident.argmax(axis=1))
    np.testing.assert_allclose(rescaled.sum(axis=1), 1.0)
    assert expected_calibration_error(overconfident, y) > 0.15 > 0.02 > expected_calibration_error(rescaled, y)
    assert brier_score(rescaled, y) < brier_score(overconfident, y)
    assert fit_temperature(P, y) == pytest.approx(1.0, rel=0.05)  # a calibrated model is left alone
    with pytest.raises(ValueError, match="positive"):
        scale_probabilities(P, 0.0)


def test_the_model_layer_is_the_numpy_formula():
    from ser_keras.evaluation.calibration import PROBABILITY_FLOOR, scale_probabilities
    from ser_keras.models.layers import TemperatureScaling

    P, _ = _calibrated(50, 5, np.random.default_rng(2))
    P[0] = [1.0, 0.0, 0.0, 0.0, 0.0]  # a zero probability: floored, not NaN
    for temperature in (0.4, 1.0, 2.7):
        layer = TemperatureScaling(temperature, floor=PROBABILITY_FLOOR)
        np.testing.assert_allclose(
            np.asarray(layer(P.astype(np.float32))), scale_probabilities(P, temperature), atol=1e-6
        )


def test_the_threshold_answers_where_answers_are_more_often_right_than_wrong():
    from ser_keras.evaluation.calibration import abstention_report, choose_min_confidence

    P = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.55, 0.45]])
    assert choose_min_confidence(P, np.array([0, 0, 0, 0])) == 0.0  # always right: answer everything
    assert choose_min_confidence(P, np.array([1, 1, 1, 1])) == 1.0  # always wrong: answer nothing
    assert choose_min_confidence(P, np.array([0, 0, 1, 1])) == 0.8
    report = abstention_report(P, np.array([0, 0, 1, 1]), min_confidence=0.8)
    assert report == {"min_confidence": 0.8, "coverage": 0.5, "accuracy_answered": 1.0, "accuracy_unanswered": 0.0}


def test_cross_fitting_scores_each_fold_with_what_the_other_folds_chose():
    from ser_keras.evaluation.calibration import cross_fitted_calibration, fit_temperature, scale_probabilities

    rng = np.random.default_rng(3)
    folds = [_calibrated(3000, 4, rng) for _ in range(3)]
    probabilities = [scale_probabilities(P, 0.5) for P, _ in folds]  # every fold overconfident
    labels = [y for _, y in folds]
    result = cross_fitted_calibration(probabilities, labels)
    others = np.concatenate(probabilities[1:]), np.concatenate(labels[1:])
    assert result["folds"][0]["temperature"] == pytest.approx(fit_temperature(*others))
    for fold in result["folds"]:
        assert fold["ece_after"] < 0.03 < fold["ece_before"] and fold["brier_after"] < fold["brier_before"]
    assert result["temperature"] == pytest.approx(2.0, rel=0.05) and 0 <= result["min_confidence"] <= 1
    assert result["mean"]["ece_after"] == pytest.approx(np.mean([f["ece_after"] for f in result["folds"]]))
    assert [row["coverage"] for row in result["risk_coverage"]] == [1.0, 0.9, 0.8, 0.7, 0.5]
    assert result["pooled"]["ece_after"] < 0.02 < result["pooled"]["ece_before"]
    with pytest.raises(ValueError, match="at least two folds"):
        cross_fitted_calibration(probabilities[:1], labels[:1])


@pytest.mark.slow
def test_a_keras_run_carries_its_temperature_inside_the_model(demo_conv1d_run):
    """Fitted on the validation speakers, saved in the model, reported before and after, per test clip."""
    import keras
    import pandas as pd

    sidecar = json.loads((demo_conv1d_run / "run.json").read_text())
    calibration = sidecar["calibration"]
    assert calibration["temperature"] > 0 and 0 <= calibration["min_confidence"] <= 1
    assert "validation speakers" in calibration["fitted_on"] and "ece_after" in calibration["validation"]
    model = keras.saving.load_model(demo_conv1d_run / "model.keras")
    assert model.get_layer("calibration").temperature == pytest.approx(calibration["temperature"])
    report = json.loads((demo_conv1d_run / "report.json").read_text())
    assert report["temperature"] == calibration["temperature"]
    assert set(report["calibration_before_scaling"]) == {"ece", "brier"}
    assert report["abstention"]["min_confidence"] == calibration["min_confidence"]
    table = pd.read_csv(demo_conv1d_run / "predictions.csv")
    labels = sidecar["labels"]
    assert list(table.columns) == ["path", "speaker", "true", *labels]
    assert set(table["speaker"]) == set(report["test_speakers"])
    P, y = table[labels].to_numpy(), table["true"].to_numpy()
    assert (P.argmax(axis=1) == y).mean() == pytest.approx(report["accuracy"])
    assert expected_calibration_error(P, y) == pytest.approx(report["calibration"]["ece"])
    answered = P.max(axis=1) >= calibration["min_confidence"]
    assert report["abstention"]["coverage"] == pytest.approx(answered.mean())


@pytest.mark.slow
def test_a_run_whose_validation_speakers_train_takes_its_temperature_from_a_cv(demo_root, demo_cache, tmp_path, capsys):
    """``--select last`` leaves no held-out speakers to fit on: ``--calibrate-from`` brings a cv's."""
    import keras

    from ser_keras.cli.main import main

    recipe = ["--quiet", "--corpus", f"demo={demo_root}", "--cache-dir", str(demo_cache), "--features", "stats"]
    recipe += ["--augment", "none", "--model", "conv1d", "--epochs", "2", "--select", "last"]
    assert main(["cv", *recipe, "--folds", "2", "--out", str(tmp_path / "cv")]) == 0
    cv_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    cv_dir = tmp_path / "cv" / cv_dir.name
    from_cv = json.loads((cv_dir / "cv.json").read_text())["calibration"]
    assert main(["train", *recipe, "--out", str(tmp_path / "run"), "--calibrate-from", str(cv_dir)]) == 0
    run = next((tmp_path / "run").iterdir())
    calibration = json.loads((run / "run.json").read_text())["calibration"]
    assert calibration["temperature"] == pytest.approx(from_cv["temperature"], rel=1e-5)
    assert calibration["min_confidence"] == pytest.approx(from_cv["min_confidence"], abs=1e-6)
    assert calibration["from_cv"]["cv"] == str(cv_dir.resolve())
    model = keras.saving.load_model(run / "model.keras")
    assert model.get_layer("calibration").temperature == pytest.approx(calibration["temperature"])
    assert f"calibrate-from: {cv_dir}" in (run / "recipe.yaml").read_text()  # the run replays with it


def test_a_cv_fits_the_distance_threshold_on_every_folds_held_out_speakers_and_a_run_takes_it(tmp_path):
    """``max_distance`` (`ser_keras.models.typicality`): the 95th percentile of the distances of all folds'
    held-out clips; a run calibrated from the cv records it as the cv's."""
    from ser_keras.training.cv import _cross_fitted
    from ser_keras.training.train import distance_calibration

    rng = np.random.default_rng(0)
    labels, distances = ["angry", "sad", "neutral"], []
    for k in range(3):
        P = rng.dirichlet(np.ones(3), size=40)
        distance = rng.gamma(4.0, 0.3, size=40)
        distances.append(distance)
        table = pd.DataFrame({"path": [f"f{k}_{i}.wav" for i in range(40)], "speaker": f"s{k}", "true": P.argmax(1)})
        table = pd.concat([table, pd.DataFrame(P, columns=labels)], axis=1).assign(distance=distance)
        (tmp_path / f"fold-{k + 1}").mkdir()
        table.to_csv(tmp_path / f"fold-{k + 1}" / "predictions.csv", index=False)
    calibration = _cross_fitted(tmp_path, 3, labels)
    assert calibration["max_distance"] == pytest.approx(np.quantile(np.concatenate(distances), 0.95), abs=1e-6)
    given = {"max_distance": calibration["max_distance"]}
    recorded = distance_calibration(calibration["max_distance"], given)
    assert recorded["max_distance"] == calibration["max_distance"]
    assert recorded["max_distance_fitted_on"].startswith("the cv's held-out speakers")
    assert distance_calibration(1.2, None)["max_distance_fitted_on"] == "the validation speakers"
    assert distance_calibration(None, given) == {}
