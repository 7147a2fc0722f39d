"""The browser example's input checks (``examples/web/quality.js``) and speech segments
(``examples/web/segments.js``) are `ser_keras.signal.quality` and `ser_keras.serving.timeline`'s: Node runs
the JavaScript on the same samples as Python, and the figures, phrases and spans agree."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from ser_keras.serving.timeline import speech_segments
from ser_keras.signal.quality import input_warnings, measure

from conftest import WEB

pytestmark = pytest.mark.skipif(not shutil.which("node"), reason="needs Node.js (.ci/run's machine has it)")

SR = 16000
#: What the script prints for each clip, from the samples in a float32 file.
SCRIPT = """
import { readFileSync } from "node:fs";
import { inputWarnings, measure } from "%(web)s/quality.js";
import { speechSegments } from "%(web)s/segments.js";
const rows = [];
for (const path of process.argv.slice(2)) {
  const bytes = readFileSync(path);
  const y = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  rows.push({ figures: measure(y, %(sr)d), warnings: inputWarnings(y, %(sr)d, 1.5),
    spans: speechSegments(y, %(sr)d) });
}
console.log(JSON.stringify(rows, (key, value) => (value === -Infinity ? "-inf" : value)));
"""


def _clips(demo_root) -> dict[str, np.ndarray]:
    """Demo voices and what the checks are for: a telephone band, quiet, clipped, noisy, short, long, hum."""
    voices = [sf.read(p, dtype="float32")[0] for p in sorted(demo_root.glob("Actor_0[34]/*.wav"))[::9][:5]]
    voice = voices[0]
    spectrum = np.fft.rfft(voice)
    spectrum[np.fft.rfftfreq(voice.size, 1 / SR) > 3400] = 0
    rng = np.random.default_rng(0)
    gap = np.zeros(SR // 2, np.float32)
    clips = {f"voice{i}": v for i, v in enumerate(voices)}
    clips |= {
        "telephone": np.fft.irfft(spectrum, voice.size),
        "quiet": voice * 10 ** (-40 / 20),
        "clipped": np.clip(3 * voice / np.abs(voice).max(), -0.95, 0.95),
        "noisy": voice + rng.normal(0, 0.05, voice.size),
        "short": voice[: SR // 2],
        "long": np.concatenate([part for v in voices * 2 for part in (gap, v)]),
        "hum": 0.3 * np.sin(2 * np.pi * 220 * np.arange(SR) / SR),
    }
    return {name: np.asarray(y, dtype=np.float32) for name, y in clips.items()}


def test_the_pages_checks_and_segments_are_pythons(demo_root, tmp_path):
    clips = _clips(demo_root)
    paths = []
    for name, y in clips.items():
        paths.append(tmp_path / f"{name}.f32")
        y.tofile(paths[-1])
    script = tmp_path / "checks.mjs"
    script.write_text(SCRIPT % {"web": WEB.as_posix(), "sr": SR})
    out = subprocess.run(["node", str(script), *map(str, paths)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    found = set()
    for (name, y), page in zip(clips.items(), json.loads(out.stdout)):
        expected = measure(y, sr=SR)
        for key, value in expected.items():
            shown = -np.inf if page["figures"][key] == "-inf" else page["figures"][key]
            assert shown == pytest.approx(value, rel=1e-9, abs=1e-9), (name, key)
        assert page["warnings"] == input_warnings(y, sr=SR, shortest_speech=1.5), name
        assert page["spans"] == speech_segments(y, sr=SR).tolist(), name
        found |= {w.split(":")[0] for w in page["warnings"]}
    assert found >= {"band-limited", "very quiet", "clipped", "noisy", "short", "long", "no speech found"}
