"""``--normalize corpus``: each corpus (and at test time the batch scored together) standardised by its own
statistics, which takes a change of microphone of a whole target corpus away."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ser_keras import ParameterError
from ser_keras.cli.main import main
from ser_keras.extraction.normalize import standardize_groups, transductive
from ser_keras.serving.predict import Predictor


def test_each_corpus_is_standardised_by_its_own_rows():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(5, 2, (40, 3)), rng.normal(-1, 0.5, (60, 3))]).astype(np.float32)
    rows = pd.DataFrame({"corpus": ["a"] * 40 + ["b"] * 60, "speaker": [f"s{i % 7}" for i in range(100)]})
    Z = standardize_groups(X, rows, "corpus")
    for corpus in ("a", "b"):
        part = Z[(rows["corpus"] == corpus).to_numpy()]
        np.testing.assert_allclose(part.mean(axis=0), 0, atol=1e-5)
        np.testing.assert_allclose(part.std(axis=0), 1, atol=1e-4)
    assert transductive("corpus") and transductive("speaker") and not transductive("global")


@pytest.mark.slow
def test_a_corpus_normalised_run_shrugs_off_a_microphone_change(demo_functionals, tmp_path, capsys):
    runs = {}
    for normalize in ("global", "corpus"):
        args = ["train", "--quiet", "--features-dir", str(demo_functionals.path), "--model", "logreg"]
        assert main([*args, "--normalize", normalize, "--out", str(tmp_path / normalize)]) == 0
        runs[normalize] = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert json.loads((runs["corpus"] / "run.json").read_text())["normalize"] == "corpus"
    drops = {}
    for normalize, run_dir in runs.items():
        args = ["evaluate", str(run_dir), "--shift", "quiet,tilt-down", "--cache-dir", str(tmp_path / "f"), "--quiet"]
        assert main(args) == 0
        rows = json.loads((run_dir / "robustness" / "robustness.json").read_text())["rows"]
        drops[normalize] = {r["shift"]: r["ua_drop"] for r in rows[1:]}
        clean = json.loads((run_dir / "report.json").read_text())["unweighted_accuracy"]
        assert rows[0]["unweighted_accuracy"] == clean
    # 20 dB quieter: the features are brought to one level before any descriptor, in both runs
    assert drops["global"]["quiet"] == drops["corpus"]["quiet"] == 0.0, drops
    # another microphone (-4 dB per octave): every spectral column of the global run moves; the batch's own
    # statistics take that away
    assert drops["global"]["tilt-down"] > 0.3 and abs(drops["corpus"]["tilt-down"]) <= 0.1, drops
    # scoring a batch: the Predictor standardises the files given together, and refuses one clip alone
    predictor = Predictor.from_run(runs["corpus"])
    test = demo_functionals.manifest.query("split == 'test'")["path"].tolist()
    results = predictor.predict_speaker(test)
    assert len(results) == len(test) and all(r["emotion"] in predictor.labels for r in results)
    with pytest.raises(ParameterError, match="normalises by corpus"):
        predictor.predict_file(test[0])
    table = predictor.predict_files(test[:6])
    assert table["error"].isna().all() and (table["speaker"] == "all").all()
