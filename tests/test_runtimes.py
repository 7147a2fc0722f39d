"""The exported audio-in file answers as the feature path does on real speech, under LiteRT's default delegate
(XNNPACK) and its reference kernels, and under the instruction sets of other x86-64 processors (emulated by
qemu-user, which shows XNNPACK another CPU: the kernels it picks are those that processor would run)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ser_keras.layout import PRETRAINED_RUN

from conftest import RAVDESS_DIR

BENCH = Path(__file__).resolve().parents[1] / "bench" / "agreement.py"
#: AVX2 and FMA without AVX-512, where XNNPACK once turned a missing formant's inf into a number (bench/agreement.py
#: also measures Nehalem, SSE4.2 only, on every clip).
EMULATED = ("Haswell",)
HAS_QEMU = shutil.which("qemu-x86_64") is not None

pytestmark = [
    pytest.mark.slow,
    pytest.mark.shared_data,
    pytest.mark.skipif(not RAVDESS_DIR.is_dir(), reason="needs ../shared/data/ravdess"),
]


def agreement(run: Path, emulated: tuple[str, ...], *, every: int = 16) -> dict:
    """`bench/agreement.py` on every ``every``-th RAVDESS file (16: 60 clips, all 16 actors): its rows, by runtime."""
    cpus = ",".join(emulated) if HAS_QEMU and sys.platform == "linux" else ""
    command = [sys.executable, str(BENCH), str(run), str(RAVDESS_DIR), "--every", str(every), "--cpu", cpus]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(row["clips"] == 960 // every for row in rows.values()), rows
    if cpus:  # .ci/run installs qemu-user: there these rows are always measured
        assert {f"xnnpack@{cpu}" for cpu in emulated} <= set(rows), rows
    return rows


def test_a_runs_waveform_file_equals_its_feature_path_on_every_kernel_set(fusion_run):
    rows = agreement(fusion_run, ())  # this machine's kernels; the shipped file is measured emulated below
    assert {"reference", "xnnpack", "savedmodel"} <= set(rows)  # against the feature path (NumPy + model)
    for name, row in rows.items():
        assert row["argmax_agree_decided"] == 1.0 and row["within_1e-3"] == 1.0, (name, row)


def test_the_shipped_model_answers_alike_under_every_kernel_set():
    # waveform.tflite alone: the reference kernels are the baseline; 30 clips, each of the 16 actors, emulated
    rows = agreement(PRETRAINED_RUN, EMULATED, every=32)
    assert "xnnpack" in rows
    for name, row in rows.items():
        assert row["argmax_agree_decided"] == 1.0 and row["within_1e-3"] == 1.0, (name, row)
