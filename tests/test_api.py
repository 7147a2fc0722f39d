"""The Python API examples of README.md run as written."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from ser_keras.layout import PRETRAINED_RUN
from ser_keras.serving.predict import Predictor

pytestmark = pytest.mark.slow  # trains Keras models end to end

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_api_example_runs(tmp_path, monkeypatch, demo_root, capsys):
    text = README.read_text()
    section = text.split("## Python API", 1)[1]
    pretrained, code = re.findall(r"```python\n(.*?)```", section.split("\n## ", 1)[0], re.S)
    demo_cache = tmp_path / "features"
    demo_cache.mkdir()
    (demo_cache / "demo_corpus").symlink_to(demo_root, target_is_directory=True)  # the session's demo corpus
    monkeypatch.chdir(tmp_path)
    # the shipped model's block, on a clip of the shipped conformance kit
    shutil.copy(PRETRAINED_RUN / "conformance" / "voice_angry.wav", tmp_path / "clip.wav")
    namespace: dict = {}
    exec(compile(pretrained, str(README), "exec"), namespace)
    expected = Predictor.pretrained().predict_file(tmp_path / "clip.wav")
    shown = capsys.readouterr().out.strip()
    assert shown == f"{expected['emotion']} {round(expected['confidence'], 2)} {expected['input_warnings']}"
    namespace = {}
    exec(compile(code, str(README), "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    run, cv = namespace["run"], namespace["cv"]
    assert printed[0].startswith("UA ") and printed[0].endswith(str(run.path))
    assert printed[1].startswith("cv UA ") and printed[1].endswith(str(cv["path"]))
    assert printed[2] in run.predictor.labels
    assert run.path.resolve().parent == (tmp_path / "models").resolve()
    summary = json.loads((cv["path"] / "cv.json").read_text())
    assert len(summary["folds"]) == 4 and summary["recipe"]["model"] == "logreg"
    assert cv["mean"] == summary["mean"] and run.report["n_test"] > 0


def test_importing_the_package_imports_no_tensorflow_librosa_or_scikit_learn():
    import subprocess
    import sys

    code = (
        "import sys, ser_keras as sk; sk.FeatureConfig; sk.TrainOptions; sk.Recipe; "
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'librosa', 'sklearn', "
        "'numba', 'scipy'}); print(heavy, len(sk.__all__))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    heavy, count = done.stdout.strip().rsplit(" ", 1)
    assert heavy == "[]" and int(count) >= 12
