"""How far does each feature column move under float32 rounding and under inaudible noise?

    python bench/conditioning.py DIR [DIR ...] [--run RUN] [--every N] [--csv columns.csv]

For every audio file under the folders, the features of the run's kind (default: the shipped model's) by

- ``float64``: the NumPy extraction, the definition (float64 throughout);
- ``float32``: the graph form (`ser_keras.features.utterance_graph`) in TensorFlow, float32 throughout;
- ``float32 + noise``: the graph form on the clip plus white noise at -90 dBFS (fixed seed);
- ``float64 + noise``: the extraction on that noisy clip;
- ``float32 + noise re peak``, ``float64 + noise re peak``: the same with the noise at -90 dB below the clip's
  own peak. The features do not see level, so noise at -90 dBFS on a clip that peaks at -30 dBFS is noise 60 dB
  below its speech: audible in its pauses on RAVDESS's quietest clips. Noise at a fixed distance below the
  clip is what rounding in a runtime's kernels resembles.

Per column, the largest change over the clips as a share of the column's range over the clips: float32
against float64 (rounding: what another runtime's kernels can add), and each path with noise against
without (what an inaudible change does: trimming, voicing and peak decisions that flip). A well-conditioned
graph keeps the first under 1e-4 of the range; the second says which columns a rounding error could move
further, and by how much. Prints the worst columns, the count above 1e-4, 1e-3 and 1e-2, and how many clips
have any column above 1e-3 and which clip is worst.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

#: Level of the added white noise (dB re full scale, RMS).
NOISE_DBFS = -90.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--run", type=Path, help="the run whose feature config is measured (default: the shipped)")
    parser.add_argument("--every", type=int, default=1, help="every Nth file of the sorted list")
    parser.add_argument("--csv", type=Path, help="per-column figures to this CSV")
    args = parser.parse_args(argv)

    import tensorflow as tf

    from ser_keras.features.functionals import feature_names
    from ser_keras.features.fusion_kind import fusion_parts
    from ser_keras.features.registry import FeatureConfig, compute
    from ser_keras.features.utterance_graph import kind_features
    from ser_keras.layout import PRETRAINED_RUN
    from ser_keras.runs.folders import read_sidecar
    from ser_keras.serving.predict import expand_paths
    from ser_keras.signal.audio import load

    config = FeatureConfig.from_dict(read_sidecar(args.run or PRETRAINED_RUN)["features"])
    if config.kind == "fusion":  # the utterance functionals: where every descriptor block is summarised
        config, _ = fusion_parts(config)
    names = feature_names(config)
    graph = tf.function(lambda y: kind_features(y, config)[0], input_signature=[tf.TensorSpec([None], tf.float32)])
    files = [str(p) for p in expand_paths(args.folders)][:: args.every]
    rng = np.random.default_rng(0)
    rows = {name: [] for name in ("float64", "float32", "float32 + noise", "float64 + noise")}
    rows |= {"float32 + noise re peak": [], "float64 + noise re peak": []}
    for path in files:
        y = load(path, sr=config.sr)
        white = rng.standard_normal(y.shape)
        for suffix, scale in (("", 1.0), (" re peak", float(np.abs(y).max()))):
            noisy = (y + white * scale * 10 ** (NOISE_DBFS / 20)).astype(np.float32)
            rows[f"float64 + noise{suffix}"].append(compute([noisy], config=config)[0])
            rows[f"float32 + noise{suffix}"].append(graph(tf.constant(noisy)).numpy())
        rows["float64"].append(compute([y], config=config)[0])
        rows["float32"].append(graph(tf.constant(y)).numpy())
    X = {name: np.asarray(value, dtype=np.float64).reshape(len(files), -1) for name, value in rows.items()}
    spread = np.ptp(X["float64"], axis=0)
    spread[spread == 0] = 1.0
    pairs = {
        "rounding (float32 vs float64)": ("float32", "float64"),
        "noise, float32 graph": ("float32 + noise", "float32"),
        "noise, float64 definition": ("float64 + noise", "float64"),
        "noise re peak, float32 graph": ("float32 + noise re peak", "float32"),
        "noise re peak, float64 definition": ("float64 + noise re peak", "float64"),
    }
    print(f"{len(files)} clips, {len(names)} columns of {config.kind}; change as a share of each column's range")
    table = {"column": names}
    for title, (a, b) in pairs.items():
        moved = np.abs(X[a] - X[b]) / spread
        worst = moved.max(axis=0)
        table[title] = worst
        above = ", ".join(f"> {t:g}: {(worst > t).sum()}" for t in (1e-4, 1e-3, 1e-2))
        print(f"\n{title}: largest {worst.max():.2e} ({names[int(worst.argmax())]}); columns {above}")
        per_clip = moved.max(axis=1)
        print(
            f"  clips with a column > 1e-3: {(per_clip > 1e-3).sum()} of {len(files)}; median clip's largest "
            f"{np.median(per_clip):.1e}; worst clip {Path(files[int(per_clip.argmax())]).name}"
        )
        for c in np.argsort(-worst)[:8]:
            print(f"  {names[c]:34s} {worst[c]:.2e}  clips above 1e-3: {(moved[:, c] > 1e-3).sum()}")
    if args.csv:
        import pandas as pd

        pd.DataFrame(table).to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
