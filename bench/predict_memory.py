"""Benchmark: peak memory of ``ser-keras predict`` on long recordings (streamed vs read whole).

Usage::

    .venv/bin/python bench/predict_memory.py [--run RUN_DIR] [--minutes 5,30]

Without ``--run``, a ``stats``/``conv1d`` run (2.5 s windows: the most windows per
minute) is trained on the demo corpus first, into a temporary folder.  For each length a
48 kHz WAV is made by repeating demo utterances, and ``Predictor.predict_file`` runs in a
fresh process that reports its peak resident memory (``ru_maxrss``): once as shipped
(files over ``STREAM_SECONDS`` are read and scored block by block) and once with the
whole file read and featurised at once (the behaviour before streaming).  Flat memory
means the streamed figure does not grow with the length.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = """
import resource, sys
import ser_keras.serving.predict as predict
if sys.argv[3] == "whole":
    predict.STREAM_SECONDS = float("inf")
result = predict.Predictor.from_run(sys.argv[1]).predict_file(sys.argv[2])
print(result["n_windows"], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def peak_mb(run_dir: Path, path: Path, mode: str) -> tuple[int, int]:
    """``(n_windows, peak RSS in MB)`` of one prediction in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(run_dir), str(path), mode], check=True, capture_output=True, text=True
    )
    windows, mb = done.stdout.split()[-2:]
    return int(windows), int(mb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", help="run directory (default: train stats/conv1d on the demo corpus)")
    parser.add_argument("--minutes", default="5,30", help="recording lengths in minutes (default 5,30)")
    parser.add_argument(
        "--whole-up-to",
        type=float,
        default=10.0,
        help="measure the read-whole path only up to this many minutes (it needs ~0.4 GB per minute of "
        "48 kHz audio; 30 minutes exhausted 24 GB here)",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ser-keras-bench-"))
    from ser_keras.cli.main import main as cli
    from ser_keras.data.demo import ensure_demo_corpus

    run_dir = args.run
    if run_dir is None:
        cli(["extract", "--quiet", "--features", "stats", "--augment", "none", "--cache-dir", str(work / "features")])
        fs_dir = next((work / "features").glob("stats-*"))
        cli(["train", "--quiet", "--features-dir", str(fs_dir), "--out", str(work / "models"), "--epochs", "5"])
        run_dir = next(p for p in (work / "models").iterdir() if (p / "run.json").is_file())
    import soundfile as sf

    from ser_keras.signal.audio import load

    speech = np.concatenate(
        [load(p, sr=48000) for p in sorted(ensure_demo_corpus(work / "features" / "demo_corpus").rglob("*.wav"))[:40]]
    )
    print(f"run: {run_dir}")
    print(f"{'minutes':>8} {'windows':>8} {'streamed MB':>12} {'whole MB':>9}")
    for minutes in (float(m) for m in args.minutes.split(",")):
        n = int(minutes * 60 * 48000)
        path = work / f"{minutes:g}min.wav"
        sf.write(path, np.resize(speech, n), 48000, subtype="PCM_16")
        windows, streamed = peak_mb(Path(run_dir), path, "stream")
        whole = str(peak_mb(Path(run_dir), path, "whole")[1]) if minutes <= args.whole_up_to else "skipped"
        print(f"{minutes:>8g} {windows:>8d} {streamed:>12d} {whole:>9}", flush=True)


if __name__ == "__main__":
    main()
