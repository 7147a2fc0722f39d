"""Does the model hold still when nothing a listener could hear has changed?

    python bench/stability.py CV_DIR [--every N] [--csv out.csv] [--markdown]
    python bench/stability.py --model RUN_OR_SHIPPED --clips DIR [DIR ...] [--every N]

Each clip is scored as it is and through each change below, by `Predictor` (the file users run:
a run's own model, or the shipped ``waveform.tflite``).  Given a cv folder, each clip is one of a
fold's held-out speakers and is scored by that fold's model, which never met its speaker.  Per
change: the share of answers (the arg-max emotion) unchanged, and the median and largest change
of any probability.

======================  =================================================================
change                  what is done to the clip (at its own rate unless said)
======================  =================================================================
gain -12/-6/+6 dB       scaled (a clip that +6 dB would clip is left out of that row)
resample soxr           resampled to the model's rate by soxr VHQ, then scored there
resample polyphase      by ``scipy.signal.resample_poly`` (Kaiser window)
resample ffmpeg         by ffmpeg's default resampler (swr), through a 32-bit float WAV
quantise 16 bit         at the model's rate (soxr), rounded to 16-bit PCM
noise -60/-40 dB        white noise this far below the clip's speech (RMS over its
                        frames within 40 dB of the loudest), seeded per clip
silence 0.5 s           0.5 s of digital silence before and after
DC offset               +0.01 (-40 dBFS)
M4A round trip          AAC at 128 kbit/s by ffmpeg, decoded again
======================  =================================================================

Inaudible changes (the target: at least 98 % of answers unchanged): gain, the resamplers, 16-bit
quantisation, noise at -60 dB, silence, DC.  Noise at -40 dB: at least 90 %.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

#: Noise levels relative to the speech (dB).
NOISE_DB = (-60.0, -40.0)
#: The changes no listener hears: the rows the 98 % target applies to.
INAUDIBLE = (
    "gain -12 dB",
    "gain -6 dB",
    "gain +6 dB",
    "resample soxr",
    "resample polyphase",
    "resample ffmpeg",
    "quantise 16 bit",
    "noise -60 dB",
    "silence 0.5 s",
    "DC offset",
)


def speech_rms(y: np.ndarray, sr: int) -> float:
    """RMS over the frames within 40 dB of the loudest (25 ms frames): the level of the speech, not its pauses."""
    frame = max(1, int(0.025 * sr))
    n = len(y) // frame * frame
    energies = np.mean(np.square(y[:n].reshape(-1, frame), dtype=np.float64), axis=1)
    loud = energies > energies.max() * 1e-4
    return float(np.sqrt(energies[loud].mean()))


def _ffmpeg(args: list[str]) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def changes(y: np.ndarray, sr: int, model_sr: int, *, rng: np.random.Generator) -> dict:
    """Each change of one clip ``(n,)`` at ``sr``: name -> ``(waveform, its rate)``, or None where it does not apply."""
    import soundfile as sf
    import soxr
    from scipy.signal import resample_poly

    peak = float(np.max(np.abs(y)))
    out: dict = {}
    for db in (-12.0, -6.0, 6.0):
        gain = 10.0 ** (db / 20.0)
        out[f"gain {db:+.0f} dB"] = (y * gain, sr) if peak * gain < 1.0 else None
    out["resample soxr"] = (soxr.resample(y, sr, model_sr, quality="VHQ").astype(np.float32), model_sr)
    g = np.gcd(sr, model_sr)
    out["resample polyphase"] = (resample_poly(y, model_sr // g, sr // g).astype(np.float32), model_sr)
    with tempfile.TemporaryDirectory() as tmp:
        source, target, m4a, back = (Path(tmp) / name for name in ("in.wav", "out.wav", "out.m4a", "back.wav"))
        sf.write(source, y, sr, subtype="FLOAT")
        _ffmpeg(["-i", str(source), "-ar", str(model_sr), "-c:a", "pcm_f32le", str(target)])
        out["resample ffmpeg"] = (sf.read(target, dtype="float32")[0], model_sr)
        _ffmpeg(["-i", str(source), "-c:a", "aac", "-b:a", "128k", str(m4a)])
        _ffmpeg(["-i", str(m4a), "-c:a", "pcm_f32le", str(back)])
        out["M4A round trip"] = (sf.read(back, dtype="float32")[0], sr)
    at_model = soxr.resample(y, sr, model_sr).astype(np.float32)
    out["quantise 16 bit"] = (np.round(at_model * 32767.0).astype(np.float32) / 32767.0, model_sr)
    level = speech_rms(y, sr)
    for db in NOISE_DB:
        noise = rng.standard_normal(len(y)).astype(np.float32) * np.float32(level * 10.0 ** (db / 20.0))
        out[f"noise {db:.0f} dB"] = (y + noise, sr)
    pad = np.zeros(int(0.5 * sr), np.float32)
    out["silence 0.5 s"] = (np.concatenate([pad, y, pad]), sr)
    out["DC offset"] = (y + np.float32(0.01), sr) if peak + 0.01 < 1.0 else None
    return out


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments `clip_jobs` reads (a cv folder, or ``--model`` with ``--clips``; ``--every``), and ``--markdown``
    (both benches print a table)."""
    parser.add_argument("cv", nargs="?", type=Path, help="a cv folder: each fold's model on its held-out clips")
    parser.add_argument("--model", type=Path, help="a run or the shipped model's folder, with --clips")
    parser.add_argument("--clips", nargs="*", default=[], help="folders or files of speech clips, with --model")
    parser.add_argument("--every", type=int, default=1, help="every Nth clip of each fold (or of --clips)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")


def clip_jobs(args) -> list[tuple[Path, list[Path]]]:
    """(model folder, its clips) pairs: each fold's run with its held-out clips, or one model with the given clips."""
    from ser_keras.layout import fold_runs
    from ser_keras.serving.predict import expand_paths

    if args.model is not None:
        return [(args.model, [Path(p) for p in expand_paths(args.clips)][:: args.every])]
    from ser_keras.evaluation.robustness import tested_clips

    jobs = []
    for run in fold_runs(args.cv):
        paths = [Path(p) for p in tested_clips(run)["path"]]
        jobs.append((run, sorted(paths)[:: args.every]))
    return jobs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_job_arguments(parser)
    parser.add_argument("--csv", type=Path, help="per clip and change: the answers and the largest change")
    args = parser.parse_args(argv)
    if (args.cv is None) == (args.model is None) or (args.model is not None and not args.clips):
        parser.error("give a cv folder, or --model with --clips")
    if shutil.which("ffmpeg") is None:
        parser.error("needs ffmpeg on PATH (resampling and the M4A round trip)")

    import pandas as pd
    import soundfile as sf

    from ser_keras.serving.predict import Predictor

    rows = []
    for model_dir, paths in clip_jobs(args):
        predictor = Predictor.from_run(model_dir)
        labels = list(predictor.labels)
        for i, path in enumerate(paths):
            y, sr = sf.read(path, dtype="float32", always_2d=True)
            y = y.mean(axis=1)
            base = predictor.predict(y, sr)
            p0 = np.array([base["probabilities"][k] for k in labels])
            rng = np.random.default_rng([i, len(rows)])
            for name, changed in changes(y, sr, predictor.sr, rng=rng).items():
                if changed is None:
                    continue
                result = predictor.predict(*changed)
                p1 = np.array([result["probabilities"][k] for k in labels])
                rows.append(
                    {
                        "model": model_dir.name,
                        "clip": path.name,
                        "change": name,
                        "answer": labels[int(p0.argmax())],
                        "changed_answer": labels[int(p1.argmax())],
                        "largest_change": float(np.abs(p1 - p0).max()),
                    }
                )
        print(f"{model_dir}: {len(paths)} clips", file=sys.stderr)
    frame = pd.DataFrame(rows)
    if args.csv:
        frame.to_csv(args.csv, index=False)
    table = summary(frame)
    print(markdown(table) if args.markdown else table.to_string(index=False))
    return 0


def markdown(table) -> str:
    """A data frame as a Markdown table."""
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def summary(frame):
    """One row per change: clips, share of answers unchanged, median and largest probability change, target met."""
    import pandas as pd

    order = [*INAUDIBLE, "noise -40 dB", "M4A round trip"]
    rows = []
    for name in order:
        part = frame[frame["change"] == name]
        if part.empty:
            continue
        unchanged = float((part["answer"] == part["changed_answer"]).mean())
        target = 0.98 if name in INAUDIBLE else 0.90 if name == "noise -40 dB" else None
        rows.append(
            {
                "change": name,
                "clips": len(part),
                "unchanged": round(unchanged, 3),
                "median |dp|": round(float(part["largest_change"].median()), 4),
                "largest |dp|": round(float(part["largest_change"].max()), 3),
                "target": "" if target is None else f">= {target:.0%} {'met' if unchanged >= target else 'missed'}",
            }
        )
    return pd.DataFrame(rows)


if __name__ == "__main__":
    sys.exit(main())
