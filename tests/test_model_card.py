"""Every run and cv folder holds a MODEL_CARD.md whose facts are the folder's own."""

from __future__ import annotations

import json
from pathlib import Path

from ser_keras.cli.main import main
from ser_keras.runs.model_card import CORPUS_LICENCES, run_card


def test_a_run_card_states_its_data_licence_split_scores_and_limits(demo_stats, tmp_path, capsys):
    args = ["train", "--quiet", "--features-dir", str(demo_stats.path), "--model", "knn", "--out", str(tmp_path)]
    assert main(args) == 0
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    card = (run / "MODEL_CARD.md").read_text()
    sidecar = json.loads((run / "run.json").read_text())
    report = json.loads((run / "report.json").read_text())
    for section in ("## Model details", "## Intended uses and limitations", "## Training data", "## Evaluation"):
        assert section in card
    assert f"| {report['unweighted_accuracy']:.3f} | {report['weighted_accuracy']:.3f} |" in card
    assert ", ".join(report["test_speakers"]) in card and CORPUS_LICENCES["demo"] in card
    assert f"train {len(sidecar['speakers']['train'])} speakers, {sidecar['n']['train']} clips" in card
    assert "Not for clinical" in card and "synthetic" in card
    for name, values in report["per_class"].items():
        assert f"| {name} | {values['recall']:.2f} |" in card
    # a card is the run's own facts: another corpus and normalisation change what it says
    other = dict(sidecar, corpora=["ravdess=/data/ravdess"], normalize="speaker")
    text = run_card(other, report)
    assert CORPUS_LICENCES["ravdess"] in text and "English (North American)" in text
    assert "transductive" in text and "synthetic" not in text
    # the training rows: recordings as they are, or each with its augmented copies
    assert "No augmentation: every training row is a recording as it is." in card
    augmented = dict(sidecar, augment={"recipes": ["speed", "channel"]}, n=dict(sidecar["n"], train=528))
    text = run_card(augmented, report)
    assert "2 augmented copies (`speed`, `channel`), so the 528 train rows are 176 recordings" in text


def test_a_cv_card_gives_the_mean_and_std_over_folds(demo_root, demo_cache, tmp_path, capsys):
    args = ["cv", "--quiet", "--corpus", f"demo={demo_root}", "--features", "stats", "--augment", "none"]
    args += ["--model", "knn", "--folds", "3", "--cache-dir", str(demo_cache), "--out", str(tmp_path)]
    assert main(args) == 0
    cv_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    summary = json.loads((cv_dir / "cv.json").read_text())
    card = (cv_dir / "MODEL_CARD.md").read_text()
    mean, std = summary["mean"]["unweighted_accuracy"], summary["std"]["unweighted_accuracy"]
    assert f"| {mean:.3f} ± {std:.3f} |" in card and "3-fold speaker cross-validation" in card
    assert "No augmentation" in card  # --augment none
    assert all((cv_dir / f"fold-{k}" / "MODEL_CARD.md").is_file() for k in (1, 2, 3))  # each fold is a run
