"""``examples/web``: the exported waveform model runs in a browser (LiteRT.js from the npm registry, headless
Chromium) and gives the Predictor's probabilities on the same clip."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ser_keras.serving.predict import Predictor

from conftest import HAS_CHROMIUM, free_port, headless_chromium, wait_for

WEB = Path(__file__).resolve().parents[1] / "examples" / "web"

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
    from selenium.webdriver.support.ui import WebDriverWait

    if not (WEB / "node_modules" / "@litertjs" / "core" / "wasm").is_dir():  # the pinned runtime, from the registry
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True, capture_output=True, timeout=600)
    site = tmp_path / "site"
    site.mkdir()
    for name in ("index.html", "app.js"):
        shutil.copy(WEB / name, site / name)
    (site / "node_modules").symlink_to(WEB / "node_modules")
    (site / "model").mkdir()
    shutil.copy(fusion_run / "waveform.tflite", site / "model" / "waveform.tflite")

    clips = sorted(demo_root.glob("Actor_0[12]/*.wav"))[::17][:3]  # 16 kHz PCM: the browser decodes, no resampling
    predictor = Predictor.from_run(fusion_run)
    labels = json.loads((fusion_run / "run.json").read_text())["labels"]

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(site)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/index.html")
        with headless_chromium(tmp_path / "profile") as driver:
            driver.get(f"http://127.0.0.1:{port}/index.html")
            wait = WebDriverWait(driver, 90)
            wait.until(lambda d: d.execute_script("return window.serKerasReady || window.serKerasResult"))
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
                heading = driver.find_element(By.ID, "emotion").text
                assert heading == f"Predicted emotion: {expected['emotion']}" == f"Predicted emotion: {result['label']}"
    finally:
        server.terminate()
        server.wait(timeout=30)
