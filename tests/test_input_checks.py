"""Input checks: each warning fires on the condition it names and stays quiet on clean speech."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ser_keras.signal.audio import load
from ser_keras.signal.channel import change_gain
from ser_keras.signal.quality import input_warnings, measure
from ser_keras.signal.shifts import apply_shift

from conftest import write_wav

SR = 16000


@pytest.fixture(scope="module")
def voices(demo_root):
    """Eight demo utterances at the models' rate (synthetic voices with pauses around them)."""
    return [load(path, sr=SR) for path in sorted(demo_root.glob("Actor_*/*.wav"))[::44][:8]]


def _kinds(y, **options) -> set[str]:
    return {problem.split(":")[0] for problem in input_warnings(y, sr=SR, **options)}


def test_clean_speech_gets_no_warning_and_each_condition_its_own(voices):
    for i, y in enumerate(voices):
        rng = np.random.default_rng(i)
        assert _kinds(y, shortest_speech=0.5) == set()
        assert _kinds(apply_shift(y, "telephone", sr=SR, rng=rng)) == {"band-limited"}
        assert _kinds(apply_shift(y, "white-0db", sr=SR, rng=rng)) == {"noisy"}
        assert _kinds(change_gain(y, db=-40.0)) == {"very quiet"}
        assert "clipped" in _kinds(np.clip(30 * y, -1, 1))
        assert _kinds(y, shortest_speech=measure(y, sr=SR)["sound_seconds"] + 0.5) == {"short"}
    noise = 0.1 * np.random.default_rng(0).standard_normal(2 * SR)
    assert "no speech found" in _kinds(noise)
    figures = measure(voices[0], sr=SR)
    assert figures["voiced_seconds"] > 0.5 and 0.5 < figures["sound_seconds"] <= len(voices[0]) / SR


def test_the_checks_need_no_scipy_or_librosa():
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from ser_keras.signal.quality import input_warnings\n"
        "input_warnings(np.sin(np.arange(16000) / 5.0), sr=16000)\n"
        "print([m for m in ('scipy', 'librosa', 'numba') if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr[-2000:]


def test_a_run_records_its_shortest_clip_and_predict_names_each_problem(demo_functionals, logreg_run, tmp_path):
    from ser_keras.extraction.parts import load_split
    from ser_keras.serving.predict import Predictor
    from ser_keras.training.train import sound_range

    train = load_split(demo_functionals, "train", "mixed")
    shortest = sound_range(train, demo_functionals.features)["shortest_sound_seconds"]
    durations = np.asarray(train.X)[:, demo_functionals.features.feature_names().index("duration")]
    assert shortest == pytest.approx(durations.min(), abs=1e-3) and 0.2 < shortest < 5
    assert sound_range(train, demo_functionals.features.__class__.for_kind("stats")) is None  # no such column

    with pytest.warns(Warning):
        predictor = Predictor.from_run(logreg_run)
    clean = load(pd.read_csv(demo_functionals.path / "manifest.csv")["path"][0], sr=SR)
    telephone = apply_shift(clean, "telephone", sr=SR, rng=np.random.default_rng(0))
    paths = [write_wav(tmp_path / "clean.wav", clean), write_wav(tmp_path / "phone.wav", telephone)]
    table = predictor.predict_files(paths).set_index("path")
    assert pd.isna(table.loc[str(paths[0]), "warning"])
    assert table.loc[str(paths[1]), "warning"].startswith("band-limited")
    in_memory = predictor.predict(telephone, SR)["input_warnings"]  # unquantised: nothing at all above 4 kHz
    assert len(in_memory) == 1 and in_memory[0].startswith("band-limited")
