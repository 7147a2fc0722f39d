"""``--gender all`` in cross-validation: per-gender models routed by a gender classifier, beside the mixed one."""

from __future__ import annotations

import json

import numpy as np

from ser_keras.cli.main import main


def test_cv_gender_all_scores_routed_gender_models_beside_the_mixed_one(demo_root, demo_cache, tmp_path, capsys):
    args = ["cv", "--quiet", "--corpus", f"demo={demo_root}", "--features", "stats", "--augment", "none"]
    args += ["--model", "knn", "--folds", "4", "--gender", "all", "--cache-dir", str(demo_cache)]
    assert main([*args, "--out", str(tmp_path / "m")]) == 0
    cv_dir = tmp_path / "m" / capsys.readouterr().out.strip().splitlines()[-1].rsplit("/", 1)[-1]
    summary = json.loads((cv_dir / "cv.json").read_text())
    assert summary["runs"][:6] == ["fold-1", "fold-1-male", "fold-1-female", "fold-2", "fold-2-male", "fold-2-female"]
    routed = summary["routed"]
    assert (
        len(summary["runs"]) == 12 and len(routed["folds"]) == 4 and 0.0 <= routed["mean"]["unweighted_accuracy"] <= 1.0
    )
    for k in (1, 2, 3, 4):
        mixed = json.loads((cv_dir / f"fold-{k}" / "report.json").read_text())
        fold = json.loads((cv_dir / f"fold-{k}-routed.json").read_text())
        # the same test clips: every one of the fold's test speakers, each clip routed to one model
        assert fold["test_speakers"] == mixed["test_speakers"] and fold["n_test"] == mixed["n_test"]
        assert sum(fold["routed"].values()) == fold["n_test"] and fold["routed"]["male"] > 0
        assert fold["gender_accuracy"] > 0.8  # the demo's voices differ by pitch range
        sidecars = {g: json.loads((cv_dir / f"fold-{k}-{g}" / "run.json").read_text()) for g in ("male", "female")}
        mixed_sidecar = json.loads((cv_dir / f"fold-{k}" / "run.json").read_text())
        for gender, sidecar in sidecars.items():
            # each gender model trains on the mixed model's training speakers of its gender, tests on its own
            assert sidecar["gender"] == gender
            assert set(sidecar["speakers"]["train"]) < set(mixed_sidecar["speakers"]["train"])
            assert set(sidecar["speakers"]["test"]) < set(mixed["test_speakers"])
        both = set(sidecars["male"]["speakers"]["train"]) | set(sidecars["female"]["speakers"]["train"])
        assert both == set(mixed_sidecar["speakers"]["train"])
    assert np.isclose(
        routed["mean"]["unweighted_accuracy"], np.mean([f["unweighted_accuracy"] for f in routed["folds"]])
    )
    # a rerun of the same cv is a new folder, not a resume: nothing was left unfinished
    assert main(["runs", "--out", str(tmp_path / "m")]) == 0
    assert "unfinished" not in capsys.readouterr().out
