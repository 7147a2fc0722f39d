"""The Streamlit page in a real headless Chromium: upload a demo clip, read the predicted emotion; upload a
long recording, read its timeline."""

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ser_keras.cli.main import main
from ser_keras.serving.app import decode_upload, timeline_text
from ser_keras.serving.predict import Predictor

from conftest import HAS_CHROMIUM, browser_on, free_port

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not HAS_CHROMIUM, reason="needs Debian's chromium and chromium-driver (.ci/run installs them)"),
]


def test_upload_in_headless_chromium_shows_the_predicted_emotion(demo_stats, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    out = tmp_path / "models"
    assert main(["train", "--quiet", "--features-dir", str(demo_stats.path), "--out", str(out), "--model", "knn"]) == 0
    run_dir = next(out.iterdir())
    manifest = demo_stats.manifest
    clip = manifest.loc[manifest["split"] == "test", "path"].iloc[0]
    predictor = Predictor.from_run(run_dir)
    expected = predictor.predict_file(clip)["emotion"]
    long_path = tmp_path / "long.wav"  # four test clips with a second of silence before each: over 10 s
    clips = [sf.read(path, dtype="float32")[0] for path in manifest.loc[manifest["split"] == "test", "path"][:4]]
    silence = np.zeros(16000, np.float32)
    sf.write(long_path, np.concatenate([part for y in clips for part in (silence, y)]), 16000, subtype="PCM_16")
    decoded = decode_upload(long_path.read_bytes(), long_path.name, sr=predictor.sr, max_bytes=10**7)
    segments = predictor.predict_segments(decoded, sr=predictor.sr)  # what the page computes

    uploads_before = set(Path(tempfile.gettempdir()).glob("ser-keras-upload-*"))
    port = free_port()
    command = [sys.executable, "-m", "ser_keras", "app", str(run_dir), "--models", str(out), "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with browser_on(command, ready=f"{url}/_stcore/health", page=f"{url}/", profile=tmp_path / "profile") as driver:
        wait = WebDriverWait(driver, 90)
        upload = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "input[type='file']"))
        upload.send_keys(str(clip))
        heading = wait.until(
            lambda d: next((e for e in d.find_elements(By.TAG_NAME, "h3") if "Predicted emotion" in e.text), None)
        )
        assert heading.text.strip().startswith(f"Predicted emotion: {expected} (")  # then its confidence
        page = wait.until(
            lambda d: (text := d.find_element(By.TAG_NAME, "body").text) and "By probability" in text and text
        )
        report = json.loads((run_dir / "report.json").read_text())
        assert f"UA {report['unweighted_accuracy']:.3f}" in page and "By probability: " + expected in page
        assert "Deploy" not in page  # the page is served to users: no developer toolbar
        assert "A long recording" not in page  # a short clip has one answer
        driver.find_element(By.CSS_SELECTOR, "input[type='file']").send_keys(str(long_path))
        page = wait.until(
            lambda d: (text := d.find_element(By.TAG_NAME, "body").text) and "Timeline: " in text and text
        )
        assert "A long recording" in page and timeline_text(segments) in page and len(segments) == 4
        assert "Predicted emotion" not in page  # one answer for the whole would mix its parts
    leftovers = set(Path(tempfile.gettempdir()).glob("ser-keras-upload-*")) - uploads_before
    assert not leftovers  # the upload was decoded in a temporary folder that is gone
