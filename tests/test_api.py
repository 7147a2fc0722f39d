"""The Python API example of README.md runs as written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # trains Keras models end to end

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_api_example_runs(tmp_path, monkeypatch, demo_root, capsys):
    text = README.read_text()
    section = text.split("## Python API", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    demo_cache = tmp_path / "features"
    demo_cache.mkdir()
    (demo_cache / "demo_corpus").symlink_to(demo_root, target_is_directory=True)  # the session's demo corpus
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    run_dir, cv_dir = Path(namespace["run_dir"]), Path(namespace["cv_dir"])
    assert printed[0].startswith("UA ") and printed[0].endswith(str(run_dir))
    assert printed[1] in namespace["predictor"].labels
    assert (run_dir / "saved_model").is_dir() and run_dir.resolve().parent == (tmp_path / "models").resolve()
    summary = json.loads((cv_dir / "cv.json").read_text())
    assert len(summary["folds"]) == 4 and summary["recipe"]["model"] == "logreg"
