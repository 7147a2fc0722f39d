"""``examples/web``: the exported waveform model runs in a browser (LiteRT.js from the npm registry, headless
Chromium) and gives the Predictor's probabilities on the same clip."""

import json
import shutil

import numpy as np
import pytest

from ser_keras.serving.predict import Predictor

from conftest import (
    HAS_CHROMIUM,
    edited_model,
    exp_for_softmax,
    page_with_model,
    shipped_contract,
    tone,
    with_contract,
    write_wav,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (HAS_CHROMIUM and shutil.which("npm")),
        reason="needs Debian's chromium and chromium-driver (.ci/run installs them) and npm",
    ),
]


@pytest.mark.slow
def test_the_web_page_gives_the_predictors_probabilities(fusion_run, demo_root, tmp_path):
    from selenium.webdriver.common.by import By

    clips = sorted(demo_root.glob("Actor_0[12]/*.wav"))[::8][:10]  # 16 kHz PCM: the browser decodes, no resampling
    noise = (0.1 * np.random.default_rng(0).standard_normal(32000)).astype(np.float32)
    clips.append(write_wav(tmp_path / "noise.wav", noise))  # unlike any speech: "Not sure", and why
    predictor = Predictor.from_run(fusion_run)
    labels = json.loads((fusion_run / "run.json").read_text())["labels"]
    with page_with_model((fusion_run / "waveform.tflite").read_bytes(), tmp_path) as (driver, wait):
        status = driver.find_element(By.ID, "status").text
        assert status.startswith("Ready: " + ", ".join(labels)), status
        for clip in clips:
            driver.execute_script("window.serKerasResult = null")
            driver.find_element(By.ID, "file").send_keys(str(clip))
            result = wait.until(lambda d: d.execute_script("return window.serKerasResult"))
            assert "error" not in result, result
            expected = predictor.predict_file(clip)
            np.testing.assert_allclose(
                result["probabilities"], [expected["probabilities"][label] for label in labels], atol=1e-3
            )
            assert result["label"] == expected["emotion"] and result["bestGuess"] == expected["best_guess"]
            assert result["distance"] == pytest.approx(expected["distance"], rel=1e-2)  # WASM kernels: ~1e-3
            heading = driver.find_element(By.ID, "emotion").text
            unfamiliar = any(w.startswith("unlike the speech") for w in expected["input_warnings"])
            if expected["emotion"] == "uncertain":
                assert heading.startswith(f"Not sure (best guess {expected['best_guess']} at "), heading
                assert ("unlike the speech the model was trained on: distance" in heading) == unfamiliar, heading
            else:
                assert heading == f"Predicted emotion: {expected['emotion']} ({expected['confidence']:.2f})"
        assert unfamiliar and expected["emotion"] == "uncertain"  # the noise, last


def test_a_crafted_label_never_runs_script_and_wrong_outputs_are_said(tmp_path):
    """A contract label that is markup is refused before any of it reaches the page; outputs that are no
    probabilities (here unnormalised scores) are an error, not "undefined"."""
    from selenium.webdriver.common.by import By

    payload = '<img src=x onerror="window.pwned = 1">'
    contract = {**shipped_contract(), "labels": [payload, *shipped_contract()["labels"][1:]]}
    hostile = edited_model(with_contract(json.dumps(contract).encode()))
    with page_with_model(hostile, tmp_path / "label") as (driver, wait):
        status = driver.find_element(By.ID, "status").text
        assert status == "Cannot load the model: the model's contract is damaged (labels, sample rate or lengths)"
        assert driver.execute_script("return window.pwned") is None
        assert not driver.find_elements(By.CSS_SELECTOR, "img")
    clip = write_wav(tmp_path / "clip.wav", tone(seconds=2.0, freq=180.0))
    with page_with_model(edited_model(exp_for_softmax), tmp_path / "nan") as (driver, wait):
        driver.execute_script("window.serKerasResult = null")
        driver.find_element(By.ID, "file").send_keys(str(clip))
        result = wait.until(lambda d: d.execute_script("return window.serKerasResult"))
        assert result == {"error": "the model gave no probabilities for this clip (NaN or out of range)"}
        assert "undefined" not in driver.find_element(By.ID, "emotion").text
