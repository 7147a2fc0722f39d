"""Benchmark: serving one 3 s clip with an exported run's ``waveform.tflite``, on one CPU core.

Usage::

    .venv/bin/python bench/serve_latency.py RUN_DIR [--calls 200] [--cold 5] [--speech DIR]

``RUN_DIR`` is an exported run (``ser-keras export RUN_DIR``; the README's main command
leaves one).  The process is pinned to one core (``sched_setaffinity``).  Figures, with the
targets for the default run:

* ``waveform.tflite`` alone (`ser_keras.runs.litert.WaveformModel`, one thread): p50 / p95 of
  one 3 s clip, audio in, probabilities out; target p50 <= 10 ms;
* ``Predictor.predict_file`` (decode with soundfile, resample with soxr, the same file);
* cold ``ser-keras predict RUN_DIR clip.wav`` in a fresh process, started before this one
  loads much: wall time and peak resident memory (the child's ``ru_maxrss``), the best and
  the worst of ``--cold`` runs; target <= 0.8 s and <= 200 MB.

The clip is a synthetic 3 s voice (`ser_keras.serving.conformance.reference_clips`), so
nothing here needs a corpus: voiced from end to end, it is the dearest kind of 3 s clip (the
voice block and YIN work on every frame).  p50/p95 are over ``--calls`` calls after 20 warm-up
calls.  ``--speech DIR`` adds real speech: the first 3 s (zero-padded) of 20 WAV files spread
over ``DIR``, each timed alone; it prints the median and the range of their p50s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def percentiles(seconds: list[float]) -> str:
    ms = np.asarray(seconds) * 1e3
    return f"p50 {np.percentile(ms, 50):.2f} ms, p95 {np.percentile(ms, 95):.2f} ms"


def timed(fn, calls: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def cold_predict(run_dir: Path, clip: Path) -> tuple[float, float]:
    """Wall seconds and peak MB (its own ``ru_maxrss``) of one ``ser-keras predict RUN clip`` in a fresh process."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "ser_keras", "predict", str(run_dir), str(clip)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"ser-keras predict {run_dir} {clip} failed (status {status})")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="an exported run directory")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--cold", type=int, default=5, help="fresh ser-keras predict processes")
    parser.add_argument("--speech", type=Path, help="a folder of speech WAVs (e.g. ../shared/data/ravdess)")
    args = parser.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    import soundfile as sf

    from ser_keras.runs.litert import WaveformModel
    from ser_keras.serving.conformance import reference_clips
    from ser_keras.serving.predict import Predictor

    model = WaveformModel(args.run / "waveform.tflite")
    voice = next(iter(reference_clips(sr=model.sr, shortest=0.3).values()))
    y = np.resize(voice, 3 * model.sr).astype(np.float32)  # 3 s: the voice repeated end to end
    clip = Path(tempfile.mkdtemp(prefix="ser-keras-bench-")) / "clip.wav"
    sf.write(clip, y, model.sr, subtype="PCM_16")

    # cold processes first, while this one is small: Linux counts the forking process's resident memory
    # in the child's ru_maxrss (the high-water mark survives exec), so a large parent would be measured
    cold_predict(args.run, clip)  # the page cache warm, as on any machine after its first prediction
    runs = [cold_predict(args.run, clip) for _ in range(args.cold)]
    seconds, megabytes = zip(*runs)
    cold = (
        f"cold ser-keras predict RUN clip.wav: {min(seconds):.2f}-{max(seconds):.2f} s, "
        f"peak {min(megabytes):.0f}-{max(megabytes):.0f} MB ({args.cold} processes)"
    )

    print(f"waveform.tflite, one 3 s clip, one thread: {percentiles(timed(lambda: model(y), args.calls))}")
    if args.speech:
        from ser_keras.signal.audio import load

        p50s = []
        for path in sorted(args.speech.rglob("*.wav"))[::48][:20]:
            speech = np.zeros(3 * model.sr, np.float32)
            window = load(path, sr=model.sr)[: 3 * model.sr]
            speech[: len(window)] = window
            p50s.append(np.percentile(timed(lambda s=speech: model(s), 60, warmup=5), 50) * 1e3)
        print(
            f"waveform.tflite, the first 3 s of {len(p50s)} speech files: median p50 {np.median(p50s):.2f} ms "
            f"(per file {min(p50s):.2f}-{max(p50s):.2f} ms)"
        )
    predictor = Predictor.from_run(args.run)
    print(
        f"Predictor.predict_file (decode + resample + waveform.tflite): "
        f"{percentiles(timed(lambda: predictor.predict_file(clip), args.calls))}"
    )
    print(cold)


if __name__ == "__main__":
    main()
