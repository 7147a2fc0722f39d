"""``examples/web``: the exported waveform model runs in a browser (LiteRT.js from the npm registry, headless
Chromium) and gives the Predictor's probabilities and input warnings on the same clip; a long recording gets
the CLI's speech segments; the microphone a rolling answer; the page its model's terms."""

import json
import shutil

import numpy as np
import pytest

from ser_keras.serving.predict import Predictor

from conftest import (
    HAS_CHROMIUM,
    SHIPPED,
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
    import soundfile as sf
    from selenium.webdriver.common.by import By

    clips = sorted(demo_root.glob("Actor_0[12]/*.wav"))[::8][:10]  # 16 kHz PCM: the browser decodes, no resampling
    voice = sf.read(clips[0], dtype="float32")[0]
    spectrum = np.fft.rfft(voice)
    spectrum[np.fft.rfftfreq(voice.size, 1 / 16000) > 3400] = 0
    clips += [  # clips the input checks flag: band-limited, very quiet, clipped
        write_wav(tmp_path / "telephone.wav", np.fft.irfft(spectrum, voice.size).astype(np.float32)),
        write_wav(tmp_path / "quiet.wav", voice * np.float32(10 ** (-40 / 20))),
        write_wav(tmp_path / "clipped.wav", np.clip(3 * voice / np.abs(voice).max(), -0.95, 0.95)),
    ]
    noise = (0.1 * np.random.default_rng(0).standard_normal(32000)).astype(np.float32)
    clips.append(write_wav(tmp_path / "noise.wav", noise))  # unlike any speech: "Not sure", and why
    predictor = Predictor.from_run(fusion_run)
    labels = json.loads((fusion_run / "run.json").read_text())["labels"]
    beside = {"run.json": (fusion_run / "run.json").read_bytes()}  # its shortest training clip
    warned = set()
    with page_with_model((fusion_run / "waveform.tflite").read_bytes(), tmp_path, beside=beside) as (driver, wait):
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
            assert result["warnings"] == expected["input_warnings"]  # the CLI's and the page's, word for word
            shown = driver.find_element(By.ID, "warnings").text.splitlines()
            assert shown == [
                f"This clip is unlike the speech the model was trained on: {w}" for w in result["warnings"]
            ]
            warned |= {w.split(":")[0] for w in result["warnings"]}
            assert result["distance"] == pytest.approx(expected["distance"], rel=1e-2)  # WASM kernels: ~1e-3
            heading = driver.find_element(By.ID, "emotion").text
            unfamiliar = any(w.startswith("unlike the speech") for w in expected["input_warnings"])
            if expected["emotion"] == "uncertain":
                assert heading.startswith(f"Not sure (best guess {expected['best_guess']} at "), heading
                assert ("unlike the speech the model was trained on: distance" in heading) == unfamiliar, heading
            else:
                assert heading == f"Predicted emotion: {expected['emotion']} ({expected['confidence']:.2f})"
        assert unfamiliar and expected["emotion"] == "uncertain"  # the noise, last
    assert {"band-limited", "very quiet", "clipped"} <= warned


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


@pytest.mark.slow
def test_a_long_recording_gets_the_clis_segments_and_the_microphone_a_rolling_answer(fusion_run, demo_root, tmp_path):
    """Over `LONG_SECONDS` the page answers per speech segment, the segments and emotions of
    `Predictor.predict_segments`; listening answers every second for the last three seconds."""
    import soundfile as sf
    from selenium.webdriver.common.by import By

    from ser_keras.signal.quality import LONG_SECONDS

    clips = [sf.read(p, dtype="float32")[0] for p in sorted(demo_root.glob("Actor_01/*.wav"))[::12][:4]]
    gap = np.zeros(16000, np.float32)
    long = np.concatenate([part for clip in clips for part in (gap, clip)])
    assert long.size > LONG_SECONDS * 16000
    path = write_wav(tmp_path / "long.wav", long)
    expected = Predictor.from_run(fusion_run).predict_segments(sf.read(path, dtype="float32")[0], sr=16000)
    model = (fusion_run / "waveform.tflite").read_bytes()
    with page_with_model(model, tmp_path / "page", microphone=path) as (driver, wait):
        driver.find_element(By.ID, "file").send_keys(str(path))
        result = wait.until(lambda d: d.execute_script("return window.serKerasResult"))
        rows = result["segments"]
        spans = [value for row in rows for value in (row["start"], row["end"])]
        assert spans == pytest.approx([v for pair in zip(expected["start"], expected["end"]) for v in pair], abs=1e-3)
        assert [r["label"] for r in rows] == expected["emotion"].tolist()
        heading = driver.find_element(By.ID, "emotion").text
        assert heading == f"A long recording ({long.size / 16000:.1f} s): one answer per speech segment"
        assert len(driver.find_elements(By.CSS_SELECTOR, "#timeline tr")) == len(expected)
        driver.execute_script("window.serKerasResult = null")
        driver.find_element(By.ID, "listen").click()
        rolling = wait.until(lambda d: (r := d.execute_script("return window.serKerasRolling")) and len(r) >= 4 and r)
        ends = [row["end"] for row in rolling]
        assert np.diff(ends) == pytest.approx(np.ones(len(ends) - 1), abs=0.3)  # an answer every second
        assert all(row["end"] - row["start"] <= 3.01 for row in rolling)  # over the last three seconds
        assert driver.find_element(By.ID, "status").text.startswith("Listening")
        driver.find_element(By.ID, "listen").click()  # Stop: the recording is scored as a file
        final = wait.until(lambda d: d.execute_script("return window.serKerasResult"))
        assert "error" not in final and driver.find_element(By.ID, "listen").text == "Listen"


def test_the_page_says_what_the_model_is_not_for_and_when_there_is_no_model(tmp_path):
    from selenium.webdriver.common.by import By

    from ser_keras.runs.model_card import LIMITATIONS

    not_for = next(line for line in LIMITATIONS if line.startswith("Not for"))
    licence = (SHIPPED.parent / "LICENSE").read_bytes()
    with page_with_model(SHIPPED.read_bytes(), tmp_path / "shipped", beside={"LICENSE": licence}) as (driver, wait):
        terms = wait.until(lambda d: "licence" in (t := d.find_element(By.ID, "terms").text) and t)
        assert terms.startswith(not_for) and driver.find_element(By.LINK_TEXT, "the model's licence")
    with page_with_model(None, tmp_path / "none") as (driver, wait):
        status = driver.find_element(By.ID, "status").text
        assert status == (
            "Cannot load the model: no model at model/waveform.tflite (HTTP 404); copy a run's waveform.tflite there"
        )
        assert driver.find_element(By.ID, "terms").text == not_for  # no LICENSE beside it: no link
