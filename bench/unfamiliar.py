"""Does the model say so when a clip is unlike the speech it was trained on?

    python bench/unfamiliar.py CV_DIR [--every N] [--markdown]
    python bench/unfamiliar.py --model RUN_OR_SHIPPED --clips DIR [DIR ...] [--every N] [--markdown]

Each sound is scored by `Predictor` (the file users run: a run's own model, or the shipped
``waveform.tflite``); given a cv folder, each fold's model scores its held-out speakers' clips and every
other group.  Per group: the share answered "uncertain", the share beyond the run's ``max_distance``
(the reason "unlike the speech the model was trained on"), the share with any input warning, the share
flagged either way, and the median distance.

=====================  ==========================================================================
group                  what is scored
=====================  ==========================================================================
held-out speakers      speech of the training corpus by speakers the model never met (or --clips)
synthetic voices       the demo corpus (`ser_keras.data.demo`): formant-synthesised "emotions"
white / pink / brown   2 s of noise at -20 dBFS, seeded
tones                  2 s of a steady 150-650 Hz sine, one per clip
chords                 2 s of three sines a major triad apart, gliding
=====================  ==========================================================================

The targets: "uncertain" or a warning on most synthetic clips and on all noise, and no more than about
5 % of held-out speakers' clips beyond ``max_distance`` (its definition).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

#: Clips of each synthetic group per model.
N_SYNTHETIC = 12


def noises(sr: int, *, rng: np.random.Generator) -> dict[str, list[np.ndarray]]:
    """Each group of sounds that are no speech: name -> ``N_SYNTHETIC`` waveforms ``(2 sr,)`` float32 at ``sr``."""
    n, t = 2 * sr, np.arange(2 * sr) / sr

    def level(y):
        return (0.1 * y / np.sqrt(np.mean(np.square(y)))).astype(np.float32)

    def coloured(exponent):
        spectrum = np.fft.rfft(rng.standard_normal(n)) / np.maximum(np.arange(n // 2 + 1), 1) ** (exponent / 2)
        return level(np.fft.irfft(spectrum, n))

    groups = {"white noise": [], "pink noise": [], "brown noise": [], "tones": [], "chords": []}
    for i in range(N_SYNTHETIC):
        groups["white noise"].append(coloured(0.0))
        groups["pink noise"].append(coloured(1.0))
        groups["brown noise"].append(coloured(2.0))
        groups["tones"].append(level(np.sin(2 * np.pi * (150 + 500 * i / N_SYNTHETIC) * t)))
        root = (110 + 20 * i) * (1 + 0.1 * t)  # gliding
        phase = 2 * np.pi * np.cumsum(root) / sr
        groups["chords"].append(level(np.sin(phase) + np.sin(1.26 * phase) + np.sin(1.5 * phase)))
    return groups


def score(predictor, y: np.ndarray, sr: int) -> dict:
    """What the user is told about one sound."""
    from ser_keras.serving.predict import UNCERTAIN

    result = predictor.predict(y, sr)
    warnings = result["input_warnings"]
    far = any(w.startswith("unlike the speech the model was trained on") for w in warnings)
    return {
        "uncertain": result["emotion"] == UNCERTAIN,
        "far": far,
        "warned": bool([w for w in warnings if not w.startswith("unlike the speech")]),
        "distance": result.get("distance"),
    }


def main(argv: list[str] | None = None) -> int:
    from stability import add_job_arguments, clip_jobs  # bench/stability.py: each fold's run and its held-out clips

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_job_arguments(parser)
    parser.add_argument("--csv", type=Path, help="per sound: its group and what the user is told")
    args = parser.parse_args(argv)
    if (args.cv is None) == (args.model is None):
        parser.error("give a cv folder, or --model with --clips")

    import pandas as pd

    from ser_keras.data.demo import ensure_demo_corpus
    from ser_keras.serving.predict import Predictor
    from ser_keras.signal.audio import load

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        demo = sorted(ensure_demo_corpus(Path(tmp) / "demo").glob("Actor_*/*.wav"))
        for k, (run, clips) in enumerate(clip_jobs(args)):
            predictor = Predictor.from_run(run)
            sr = predictor.sr
            print(f"{run}: {len(clips)} speech clips", file=sys.stderr, flush=True)
            groups = {"held-out speakers": [load(p, sr=sr) for p in clips]}
            groups["synthetic voices"] = [load(p, sr=sr) for p in demo[k :: max(1, len(demo) // N_SYNTHETIC)]]
            groups.update(noises(sr, rng=np.random.default_rng(k)))
            for group, sounds in groups.items():
                rows.extend({"model": str(run), "group": group, **score(predictor, y, sr)} for y in sounds)
    table = pd.DataFrame(rows)
    if args.csv:
        table.to_csv(args.csv, index=False)
    table["flagged"] = table["uncertain"] | table["warned"]
    summary = table.groupby("group", sort=False).agg(
        clips=("uncertain", "size"),
        uncertain=("uncertain", "mean"),
        beyond_max_distance=("far", "mean"),
        warned=("warned", "mean"),
        flagged=("flagged", "mean"),
        median_distance=("distance", "median"),
    )
    summary = summary.round(3).reset_index()
    if args.markdown:
        header = "| " + " | ".join(summary.columns) + " |"
        print("\n".join([header, "|" + "---|" * len(summary.columns)]))
        for row in summary.itertuples(index=False):
            print("| " + " | ".join(str(v) for v in row) + " |")
    else:
        print(summary.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
