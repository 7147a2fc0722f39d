"""Peak memory and time of `ser-keras predict` on a recording hours long, as WAV and as M4A.

    python bench/long_audio.py [--hours 3] [--run RUN]

Writes a recording of ``--hours`` hours (the synthetic reference clips of the conformance kit, one after
another with a second of silence between them, at 16 kHz) as 16-bit WAV and, with ffmpeg, as AAC in M4A,
then runs in fresh processes ``ser-keras predict [RUN] FILE`` (scored whole, window by window) and
``ser-keras predict [RUN] FILE --segments`` (a timeline), and prints each one's wall time and peak resident
memory (``ru_maxrss`` of the child, measured by ``/usr/bin/time``-like accounting in `resource`).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def peak_of(command: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak resident MB and exit code of ``command`` run in a fresh child (one at a time)."""
    code = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)"
    )  # a small parent of its own: ru_maxrss of children counts only the command
    done = subprocess.run([sys.executable, "-c", code, *command], capture_output=True, text=True, check=True)
    seconds, kilobytes, rc = done.stdout.split()
    return float(seconds), int(kilobytes) / 1024, int(rc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--run", type=Path, help="a run folder (default: the shipped model)")
    args = parser.parse_args(argv)

    import soundfile as sf

    from ser_keras.serving.conformance import reference_clips

    sr = 16000
    clips = [y for name, y in reference_clips(sr=sr, shortest=0.5).items() if name != "short.wav"]
    gap = np.zeros(sr, np.float32)
    cycle = np.concatenate([part for y in clips for part in (y, gap)])
    total = int(args.hours * 3600 * sr)
    ser_keras = str(Path(sys.executable).with_name("ser-keras"))
    run = [str(args.run)] if args.run else []
    with tempfile.TemporaryDirectory(prefix="ser-long-") as folder:
        wav = Path(folder) / "long.wav"
        with sf.SoundFile(wav, "w", samplerate=sr, channels=1, subtype="PCM_16") as handle:
            for start in range(0, total, len(cycle)):
                handle.write(cycle[: total - start])
        files = [wav]
        if shutil.which("ffmpeg"):
            m4a = wav.with_suffix(".m4a")
            subprocess.run(
                ["ffmpeg", "-v", "error", "-i", str(wav), "-c:a", "aac", "-b:a", "32k", str(m4a)], check=True
            )
            files.append(m4a)
        print(f"{args.hours:g} h at {sr} Hz; {time.strftime('%Y-%m-%d')}")
        print(f"{'file':10s} {'command':28s} {'wall s':>8s} {'peak MB':>8s} {'exit':>4s}")
        for path in files:
            for extra in ([], ["--segments"]):
                seconds, megabytes, rc = peak_of([ser_keras, "predict", *run, str(path), *extra, "-o", f"{path}.csv"])
                what = "predict " + " ".join(extra)
                print(f"{path.suffix:10s} {what:28s} {seconds:8.1f} {megabytes:8.0f} {rc:4d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
