"""Benchmark: `stats` extraction vs the seed projects' plain per-file librosa loop.

Usage::

    .venv/bin/python bench/extract_speed.py [--ravdess ../shared/data/ravdess] [--jobs 2]

Both sides process the same files with the same parameters (22.05 kHz, 2.5 s from
0.6 s, n_fft 2048, hop 512, 20 MFCC, 128 mel, chroma tuning 0) and are warmed up
first.  The plain loop is what the seed projects do: ``librosa.load`` one file, then
each ``librosa.feature.*`` call, then the time means.  Ours is
`ser_keras.extraction.extract.extract_features` into a fresh cache folder (so nothing is a
cache hit), with and without ``--augment noise,stretch+pitch``.  The augmented
plain loop applies the same recipes the seed way (``librosa.effects`` per file).
Prints files/s, the ratios and the peak RSS of this process and its workers.

Then two measurements in fresh processes:

* whole process: ``ser-keras extract`` of every file (imports, worker start-up and
  cache writing included) against a fresh process running the plain loop on the same
  files (``librosa`` imported there too); target >= 5x;
* memory with corpus size: peak RSS of a fresh process extracting N and 4N files (the
  corpus repeated, as in the steady state) with ``jobs=1``, so workers' chunks and the
  assembly of the cache are in one process; the target is that it stays flat.

Every target is printed as met, or by how much it is missed.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def plain_loop(paths, *, augment: bool, seed: int = 0) -> np.ndarray:
    import librosa

    rows = []
    rng = np.random.default_rng(seed)
    for path in paths:
        y, sr = librosa.load(path, sr=22050, offset=0.6, duration=2.5)
        views = [y]
        if augment:
            noise = y + rng.normal(0, np.sqrt(np.mean(y**2) / 10 ** (rng.uniform(10, 30) / 10)), y.shape)
            stretched = librosa.effects.time_stretch(y, rate=rng.uniform(0.8, 1.25))
            views += [
                noise.astype(np.float32),
                librosa.effects.pitch_shift(stretched, sr=sr, n_steps=rng.uniform(-3, 3)),
            ]
        for v in views:
            zcr = np.mean(librosa.feature.zero_crossing_rate(y=v).T, axis=0)
            stft = np.abs(librosa.stft(v))
            chroma = np.mean(librosa.feature.chroma_stft(S=stft, sr=sr, tuning=0.0).T, axis=0)
            mfcc = np.mean(librosa.feature.mfcc(y=v, sr=sr).T, axis=0)
            rms = np.mean(librosa.feature.rms(y=v).T, axis=0)
            mel = np.mean(librosa.feature.melspectrogram(y=v, sr=sr).T, axis=0)
            rows.append(np.hstack([zcr, chroma, mfcc, rms, mel]))
    return np.asarray(rows)


def ours(manifest, *, augment: str, jobs: int) -> tuple[float, int]:
    from ser_keras.extraction.extract import extract_features
    from ser_keras.features.config import FeatureConfig
    from ser_keras.signal.augment import AugmentConfig, parse_recipes

    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        result = extract_features(
            manifest,
            features=FeatureConfig.for_kind("stats"),
            augment=AugmentConfig(recipes=parse_recipes(augment)),
            cache_dir=cache,
            jobs=jobs,
            progress=False,
        )
        return time.perf_counter() - started, result.n_items


def peak_rss_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def verdict(value: float, target: float, unit: str = "x") -> str:
    return f"target >= {target:g}{unit}: " + ("met" if value >= target else f"missed by {target - value:.1f}{unit}")


def ravdess_manifest(ravdess: str):
    """The RAVDESS manifest both sides time, split by speaker (seed 0)."""
    from ser_keras.data.corpora import parse_ravdess
    from ser_keras.data.splits import assign_split

    return assign_split(parse_ravdess(ravdess), seed=0)


def rss_run(ravdess: str, n_files: int) -> None:
    """Child mode: extract the first ``n_files`` of the corpus repeated in this one process (``jobs=1``), then
    print its peak RSS in MB (``VmHWM``: this process's own high-water mark, which ``ru_maxrss`` is not, as
    Linux carries the parent's over ``fork`` + ``exec``)."""
    import pandas as pd

    manifest = ravdess_manifest(ravdess)
    repeated = pd.concat([manifest] * -(-n_files // len(manifest)), ignore_index=True).iloc[:n_files]
    ours(repeated, augment="", jobs=1)
    status = Path("/proc/self/status").read_text()
    print(int(status.split("VmHWM:")[1].split()[0]) / 1024)


def fresh_process_seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def whole_process_and_memory(args) -> None:
    """The fresh-process figures of the module docstring."""
    n = len(list(Path(args.ravdess).rglob("*.wav")))
    with tempfile.TemporaryDirectory() as cache:
        ours_s = fresh_process_seconds(
            [
                sys.executable,
                "-m",
                "ser_keras",
                "extract",
                "--quiet",
                "--features",
                "stats",
                "--augment",
                "none",
                "--corpus",
                f"ravdess={args.ravdess}",
                "--cache-dir",
                cache,
                "--jobs",
                str(args.jobs),
            ]
        )
    loop = (
        f"import sys, glob; sys.path.insert(0, {str(Path(__file__).parent)!r}); from extract_speed import plain_loop; "
        f"plain_loop(sorted(glob.glob({str(Path(args.ravdess))!r} + '/**/*.wav', recursive=True)), augment=False)"
    )
    loop_s = fresh_process_seconds([sys.executable, "-c", loop])
    print(
        f"whole process, {n} files: ser-keras extract {ours_s:.1f} s, plain loop {loop_s:.1f} s: "
        f"{loop_s / ours_s:.1f}x ({verdict(loop_s / ours_s, 5)})"
    )
    peaks = {}
    for n_files in (args.memory_files, 4 * args.memory_files):
        done = subprocess.run(
            [sys.executable, __file__, "--ravdess", args.ravdess, "--rss-run", str(n_files)],
            check=True,
            capture_output=True,
            text=True,
        )
        peaks[n_files] = float(done.stdout.split()[-1])
        print(f"peak RSS extracting {n_files} files in one process (--jobs 1): {peaks[n_files]:.0f} MB")
    small, large = peaks.values()
    print(
        f"memory growth from {args.memory_files} to {4 * args.memory_files} files: {large - small:+.0f} MB "
        f"(target: flat; {'met' if large - small <= 0.1 * small else 'missed'}, within 10% counted flat)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ravdess", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--loop-files", type=int, default=480, help="files timed in the plain loop")
    parser.add_argument("--memory-files", type=int, default=480, help="N of the memory measurement (N and 4N files)")
    parser.add_argument("--rss-run", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not Path(args.ravdess).is_dir():
        print(f"RAVDESS not found at {args.ravdess}", file=sys.stderr)
        return 1
    if args.rss_run:
        rss_run(args.ravdess, args.rss_run)
        return 0
    warnings.simplefilter("ignore")
    manifest = ravdess_manifest(args.ravdess)
    paths = manifest["path"].tolist()
    n_train = int((manifest["split"] == "train").sum())
    print(f"{len(paths)} files ({n_train} in train), jobs={args.jobs}")

    plain_loop(paths[:10], augment=True)  # warm-up: numba JIT, filter caches, FFT plans
    started = time.perf_counter()
    plain_loop(paths[: args.loop_files], augment=False)
    plain = args.loop_files / (time.perf_counter() - started)
    print(f"plain librosa loop:            {plain:8.1f} files/s")
    n_aug = min(args.loop_files, 120)
    started = time.perf_counter()
    plain_loop(paths[:n_aug], augment=True)
    plain_aug = n_aug / (time.perf_counter() - started)
    print(
        f"plain loop, noise,stretch+pitch: {plain_aug:6.1f} files/s (3 views per file, as if every file were training)"
    )

    import pandas as pd

    ours(manifest.iloc[:96], augment="noise,stretch+pitch", jobs=args.jobs)  # warm the workers
    # Steady state: the corpus 4 times over (copies never share a chunk, each is read again),
    # so per-run fixed costs (fingerprint, dispatch, assembly) are amortised as on a larger corpus.
    repeated = pd.concat([manifest] * 4, ignore_index=True)
    for augment in ("", "noise,stretch+pitch"):
        for name, frame in (
            (f"one run, {len(manifest)} files", manifest),
            (f"steady state, {len(repeated)} files", repeated),
        ):
            seconds, rows = ours(frame, augment=augment, jobs=args.jobs)
            rate = len(frame) / seconds
            target = f"; {verdict(rate / plain, 10)}" if not augment else f"; {verdict(rate / plain, 3)} the plain loop"
            print(
                f"ser-keras extract [{augment or 'no augmentation'}] {name}: {rate:7.1f} files/s, {rows} rows "
                f"in {seconds:.2f} s, {rate / plain:.1f}x the plain loop, {rate / plain_aug:.1f}x the augmented loop"
                + (target if name.startswith("steady") else "")
            )
    own, children = peak_rss_mb()
    print(f"peak RSS: {own:.0f} MB (this process), {children:.0f} MB (largest worker)")
    whole_process_and_memory(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
