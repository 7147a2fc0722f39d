"""Does every runtime give the answers of the run's feature path, clip by clip?

    python bench/agreement.py RUN DIR [DIR ...] [--cpu Haswell,Nehalem] [--browser 10] [--every N] [--csv out.csv]

For each audio file under the folders, the run's probabilities by

- ``features``: the NumPy extraction and the run's own model (``model.tflite``, else ``model.keras``), the
  path whose figures the reports publish (absent from a folder holding only ``waveform.tflite``, such as the
  shipped model: the reference kernels are then the baseline);
- ``xnnpack``: ``waveform.tflite`` under LiteRT's default delegate, what `Predictor`, the page and apps run;
- ``reference``: ``waveform.tflite`` under LiteRT's reference kernels;
- ``savedmodel``: the SavedModel's ``serve_padded`` signature (TensorFlow), when the run has one;
- ``xnnpack@CPU``: the default delegate under ``qemu-x86_64 -cpu CPU`` (Debian's qemu-user), which shows
  XNNPACK the instruction set of another x86-64 processor (Haswell: AVX2 and FMA without AVX-512;
  Nehalem: SSE4.2 only), so kernels this machine never picks are measured on it;
- ``litert.js``: ``examples/web`` in headless Chromium on the first ``--browser N`` clips (written at the
  model's rate, so the browser does not resample).

Per runtime: argmax agreement with the baseline (all clips, and those whose baseline's top two differ by
more than 0.01), the share of clips whose probabilities are all within 1e-3, and the largest difference.
Every clip is scored as `Predictor` scores it: its windows (`ser_keras.signal.windows.segments`), averaged.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

#: The baseline's top two must differ by more than this for an argmax disagreement to count as one.
MARGIN = 0.01
#: Probabilities within this of the baseline's count as equal.
CLOSE = 1e-3


def litert_answers(model: str, windows: str, owners: str, out: str, reference: bool) -> None:
    """Child mode: ``waveform.tflite`` on saved windows, averaged per clip, saved (no TensorFlow imported)."""
    from ser_keras.runs.litert import WaveformModel

    waveform_model = WaveformModel(model, reference_kernels=reference)
    data = np.load(windows, allow_pickle=False)
    owner = np.load(owners)
    probabilities = np.stack([waveform_model(data[f"w{i}"])["probabilities"] for i in range(len(owner))])
    np.save(out, _per_clip(probabilities, owner))


def _per_clip(probabilities: np.ndarray, owner: np.ndarray) -> np.ndarray:
    clips = int(owner.max()) + 1
    return np.stack([probabilities[owner == c].mean(axis=0) for c in range(clips)])


def agreement(baseline: np.ndarray, other: np.ndarray) -> dict:
    """The row of one runtime: argmax agreement (all, and where the baseline is decided), closeness, worst gap."""
    top2 = np.sort(baseline, axis=1)[:, -2:]
    decided = (top2[:, 1] - top2[:, 0]) > MARGIN
    same = baseline.argmax(axis=1) == other.argmax(axis=1)
    gap = np.abs(baseline - other).max(axis=1)
    return {
        "clips": len(baseline),
        "argmax_agree": float(same.mean()),
        "argmax_agree_decided": float(same[decided].mean()) if decided.any() else float("nan"),
        "within_1e-3": float((gap <= CLOSE).mean()),
        "largest_gap": float(gap.max()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--cpu", default="", help="comma-separated qemu CPU models to emulate (e.g. Haswell,Nehalem)")
    parser.add_argument("--browser", type=int, default=0, help="clips scored by LiteRT.js in headless Chromium")
    parser.add_argument("--every", type=int, default=1, help="every Nth file of the sorted list")
    parser.add_argument("--limit", type=int, default=0, help="at most this many files (0: all)")
    parser.add_argument("--csv", type=Path, help="per-clip gaps to this CSV")
    parser.add_argument("--litert-child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.litert_child:
        model, windows, owners, out, kernels = args.litert_child
        litert_answers(model, windows, owners, out, kernels == "reference")
        return 0

    from ser_keras.features.config import FeatureConfig
    from ser_keras.runs.folders import read_sidecar
    from ser_keras.serving.predict import expand_paths
    from ser_keras.signal.audio import load
    from ser_keras.signal.windows import segments

    sidecar = read_sidecar(args.run)
    config = FeatureConfig.from_dict(sidecar["features"])
    files = [str(p) for p in expand_paths(args.folders)][:: args.every]
    files = files[: args.limit] if args.limit else files
    clips = [load(path, sr=config.sr) for path in files]
    windows = [segments(y, config=config) for y in clips]
    owner = np.repeat(np.arange(len(clips)), [len(w) for w in windows])
    flat = [w for clip_windows in windows for w in clip_windows]
    work = Path(tempfile.mkdtemp(prefix="ser-agreement-"))
    try:
        np.savez(work / "windows.npz", **{f"w{i}": w for i, w in enumerate(flat)})
        np.save(work / "owner.npy", owner)
        answers: dict[str, np.ndarray] = {}
        model_file = str(args.run / "waveform.tflite")

        def child(name: str, kernels: str, prefix: list[str]) -> None:
            out = work / f"{name.replace('@', '_')}.npy"
            command = [*prefix, sys.executable, __file__, str(args.run), str(args.run), "--litert-child"]
            command += [model_file, str(work / "windows.npz"), str(work / "owner.npy"), str(out), kernels]
            env = dict(os.environ)
            if prefix:  # qemu runs the interpreter binary itself: tell it where this environment's packages are
                import sysconfig

                repo = str(
                    Path(__file__).resolve().parents[1]
                )  # an editable install's .pth is not read from PYTHONPATH
                env["PYTHONPATH"] = os.pathsep.join([repo, sysconfig.get_paths()["purelib"], env.get("PYTHONPATH", "")])
                command[len(prefix)] = os.path.realpath(sys.executable)
            subprocess.run(command, check=True, env=env)
            answers[name] = np.load(out)

        if (args.run / "model.tflite").is_file() or (args.run / "model.keras").is_file():
            answers["features"] = feature_path(args.run, sidecar, config, windows, owner)
        child("reference", "reference", [])
        child("xnnpack", "default", [])
        for cpu in filter(None, args.cpu.split(",")):
            if shutil.which("qemu-x86_64") is None:
                raise SystemExit("--cpu needs qemu-user (apt-get install qemu-user)")
            child(f"xnnpack@{cpu}", "default", ["qemu-x86_64", "-cpu", cpu])
        if (args.run / "saved_model").is_dir():
            answers["savedmodel"] = savedmodel_path(args.run, config, flat, owner)
        if args.browser:
            answers["litert.js"] = browser_path(args.run, clips[: args.browser], config.sr, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    baseline_name = "features" if "features" in answers else "reference"
    baseline = answers[baseline_name]
    print(f"{len(files)} clips of {', '.join(map(str, args.folders))}; baseline: {baseline_name}")
    print(f"{'runtime':18s} {'clips':>5s} {'argmax':>7s} {'decided':>8s} {'<=1e-3':>7s} {'largest':>9s}")
    rows = {}
    for name, probabilities in answers.items():
        if name == baseline_name:
            continue
        row = agreement(baseline[: len(probabilities)], probabilities)
        rows[name] = row
        print(
            f"{name:18s} {row['clips']:5d} {row['argmax_agree']:7.1%} {row['argmax_agree_decided']:8.1%} "
            f"{row['within_1e-3']:7.1%} {row['largest_gap']:9.2e}"
        )
    if args.csv:
        import pandas as pd

        table = pd.DataFrame({"path": files})
        for name, probabilities in answers.items():
            if name != baseline_name:
                gap = np.abs(baseline[: len(probabilities)] - probabilities).max(axis=1)
                table[name] = np.concatenate([gap, np.full(len(files) - len(gap), np.nan)])
        table.to_csv(args.csv, index=False)
    print(json.dumps(rows))
    return 0


def feature_path(run: Path, sidecar: dict, config, windows: list, owner: np.ndarray) -> np.ndarray:
    """The NumPy features of every window and the run's own model (``model.tflite`` or ``model.keras``)."""
    from ser_keras.features.registry import compute
    from ser_keras.runs.folders import load_run
    from ser_keras.runs.inference import predict_probabilities

    _, model = load_run(run, litert=True)
    flat = [w for clip_windows in windows for w in clip_windows]
    X = np.concatenate([compute(flat[i : i + 32], config=config) for i in range(0, len(flat), 32)])
    return _per_clip(predict_probabilities(model, X), owner)


def savedmodel_path(run: Path, config, flat: list, owner: np.ndarray) -> np.ndarray:
    """The SavedModel's ``serve_padded`` signature, window by window."""
    import tensorflow as tf

    from ser_keras.serving.saved_model import PADDED_SIGNATURE, padded_length

    signature = tf.saved_model.load(str(run / "saved_model")).signatures[PADDED_SIGNATURE]
    length = padded_length(config)
    out = []
    for w in flat:
        padded = np.zeros((1, length), np.float32)
        padded[0, : min(len(w), length)] = w[:length]
        result = signature(waveform=tf.constant(padded), samples=tf.constant([min(len(w), length)], tf.int32))
        out.append(result["probabilities"].numpy()[0])
    return _per_clip(np.stack(out), owner)


def browser_path(run: Path, clips: list, sr: int, work: Path) -> np.ndarray:
    """``examples/web`` in headless Chromium: each clip uploaded as a float WAV at the model's rate."""
    import soundfile as sf
    from selenium.webdriver.common.by import By

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from conftest import page_with_model

    out = []
    with page_with_model((run / "waveform.tflite").read_bytes(), work) as (driver, wait):
        for i, y in enumerate(clips):
            path = work / f"clip{i}.wav"
            sf.write(path, y, sr, subtype="FLOAT")
            driver.execute_script("window.serKerasResult = null")
            driver.find_element(By.ID, "file").send_keys(str(path))
            result = wait.until(lambda d: d.execute_script("return window.serKerasResult"))
            out.append(result.get("probabilities", [np.nan]))
    return np.asarray(out, dtype=np.float64)


if __name__ == "__main__":
    sys.exit(main())
