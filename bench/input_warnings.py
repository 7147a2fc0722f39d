"""Benchmark: how often the per-clip input warnings fire on clean speech and on each recording shift.

Usage::

    .venv/bin/python bench/input_warnings.py [--corpus ../shared/data/ravdess] [--clips 120]

Draws ``--clips`` RAVDESS clips (seeded), reads them at 16 kHz, and puts each through every shift of
the robustness benchmark (`ser_keras.signal.shifts`), plus ``clean-trimmed`` (the clip cut at the 40 dB
trim, as a user's tightly cut recording). Prints, per condition, the share of clips with any warning
and with each kind (`ser_keras.signal.quality.input_warnings`, with the shipped model's shortest
training clip).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np


def main() -> None:
    import librosa
    import pandas as pd

    from ser_keras.layout import PRETRAINED_RUN
    from ser_keras.signal.audio import load
    from ser_keras.signal.quality import input_warnings
    from ser_keras.signal.shifts import SHIFTS, apply_shift

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="../shared/data/ravdess")
    parser.add_argument("--clips", type=int, default=120)
    args = parser.parse_args()
    files = sorted(Path(args.corpus).glob("Actor_*/*.wav"))
    files = list(np.random.default_rng(0).choice(files, min(args.clips, len(files)), replace=False))
    shortest = (
        json.loads((PRETRAINED_RUN / "run.json").read_text()).get("input_range", {}).get("shortest_sound_seconds")
    )
    counts: dict[str, Counter] = {}
    for i, path in enumerate(files):
        y = load(path, sr=16000)
        variants = {
            "clean": y,
            "clean-trimmed": librosa.effects.trim(y, top_db=40, frame_length=2048, hop_length=512)[0],
        }
        variants.update({name: apply_shift(y, name, sr=16000, rng=np.random.default_rng(i)) for name in SHIFTS})
        for name, v in variants.items():
            found = {w.split(":")[0] for w in input_warnings(v, sr=16000, shortest_speech=shortest)}
            counts.setdefault(name, Counter()).update(found | ({"any"} if found else set()))
    table = pd.DataFrame(counts).T.fillna(0) / len(files)
    print(f"{len(files)} clips; share of clips with each warning (shortest training sound {shortest} s)")
    print(table.reindex(columns=["any", *sorted(c for c in table.columns if c != "any")]).round(3).to_string())


if __name__ == "__main__":
    main()
