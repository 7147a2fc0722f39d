"""Calibration error, Brier score and accuracy by coverage: their definitions, and where runs report them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ser_keras.evaluation.calibration import brier_score, expected_calibration_error, risk_coverage


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


def test_a_run_and_a_cv_report_their_calibration(logreg_run, demo_root, demo_cache, tmp_path, capsys):
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
