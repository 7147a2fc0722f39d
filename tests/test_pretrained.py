"""The model shipped with the package: found without naming a run, answering its bundled reference clips."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from ser_keras.cli.main import main
from ser_keras.layout import PRETRAINED_RUN
from ser_keras.serving.predict import Predictor

KIT = PRETRAINED_RUN / "conformance"


def test_the_shipped_model_answers_its_reference_clips_as_recorded():
    predictor = Predictor.pretrained()
    sidecar = json.loads((PRETRAINED_RUN / "run.json").read_text())
    kit = json.loads((KIT / "expected.json").read_text())
    assert predictor.labels == sidecar["labels"] == kit["contract"]["labels"] and len(predictor.labels) == 8
    assert predictor.min_confidence == sidecar["calibration"]["min_confidence"] == kit["contract"]["min_confidence"]
    assert predictor.demo_warning is None and sidecar["corpora"][0].startswith("ravdess")
    assert sidecar["calibration"]["temperature"] > 0 and "from_cv" in sidecar["calibration"]
    assert kit["clips"]
    for entry in kit["clips"]:
        y, sr = sf.read(KIT / entry["file"], dtype="float32")
        result = predictor.predict(y, sr)
        got = [result["probabilities"][label] for label in predictor.labels]
        np.testing.assert_allclose(got, entry["probabilities"], atol=kit["tolerance"])
        assert result["best_guess"] == entry["label"]
    assert Predictor.pretrained(min_confidence=1.0).predict(y, sr)["emotion"] == "uncertain"


def test_the_shipped_model_is_small_licensed_and_documented():
    sizes = sum(path.stat().st_size for path in PRETRAINED_RUN.rglob("*") if path.is_file())
    assert sizes < 6e6, sizes
    licence = (PRETRAINED_RUN / "LICENSE").read_text()
    assert "CC BY-NC-SA 4.0" in licence and "Livingstone" in licence and "MIT" in licence
    card = (PRETRAINED_RUN / "MODEL_CARD.md").read_text()
    for needed in ("CC BY-NC-SA 4.0", "speaker", "ECE", "Not for", "bench/pretrained.sh", "uncertain"):
        assert needed in card, needed
    assert not list(PRETRAINED_RUN.rglob("03-01-*.wav"))  # no corpus audio, only synthetic clips
    # no path of the machine that built it: they mean nothing where the package is installed
    sidecar = json.loads((PRETRAINED_RUN / "run.json").read_text())
    assert sidecar["corpora"] == ["ravdess=(not shipped)"] and sidecar["feature_set"] == "(not shipped)"


def test_predict_without_a_run_uses_the_shipped_model_and_imports_no_feature_code(tmp_path):
    clip = KIT / json.loads((KIT / "expected.json").read_text())["clips"][0]["file"]
    script = (
        "import sys; from ser_keras.cli.main import main; code = main(['predict', sys.argv[1], '-o', sys.argv[2]]); "
        "print(code, *sorted(m for m in ('librosa', 'scipy', 'numba', 'sklearn', 'tensorflow', 'keras') "
        "if m in sys.modules))"
    )
    out = tmp_path / "r.csv"
    done = subprocess.run([sys.executable, "-c", script, str(clip), str(out)], capture_output=True, text=True)
    # exit 0, and none of the feature or training libraries loaded
    assert done.returncode == 0 and done.stdout.splitlines()[-1].split() == ["0"], (done.stdout, done.stderr[-2000:])
    import pandas as pd

    row = pd.read_csv(out).iloc[0]
    assert row["best_guess"] in Predictor.pretrained().labels
    # printed to the terminal, not written: no pandas either (its import was half of a cold start)
    script = script.replace(", '-o', sys.argv[2]", "").replace("'keras')", "'keras', 'pandas')")
    done = subprocess.run([sys.executable, "-c", script, str(clip)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.splitlines()[-1].split() == ["0"], (done.stdout, done.stderr[-2000:])
    assert done.stdout.splitlines()[0].split()[:3] == ["path", "emotion", "confidence"]


def test_predict_cli_names_what_it_could_not_use(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "missing.wav")]) == 2
    captured = capsys.readouterr()
    assert "missing.wav: not found" in captured.out and "could not be scored" in captured.err
    with pytest.raises(SystemExit):
        main(["predict"])  # nothing to score


def test_readme_and_the_card_quote_the_shipped_models_own_threshold_temperature_and_test_figure():
    from pathlib import Path

    sidecar = json.loads((PRETRAINED_RUN / "run.json").read_text())
    report = json.loads((PRETRAINED_RUN / "report.json").read_text())
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    card = (PRETRAINED_RUN / "MODEL_CARD.md").read_text()
    threshold = f"below {sidecar['calibration']['min_confidence']:.2f}"
    assert threshold in " ".join(readme.split()) and threshold in card
    assert f"T = {sidecar['calibration']['temperature']:.2f}" in card
    assert f"UA {report['unweighted_accuracy']:.3f} on their {report['n_test']} clips" in card
    assert sidecar["package_version"] == __import__("ser_keras").__version__
