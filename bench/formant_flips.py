"""How often does a rounding-sized change flip a frame's formants, under the definition and its variants?

    python bench/formant_flips.py DIR [--every 8] [--draws 5]

The frames of every Nth audio file under DIR (trimmed, levelled and floored as the features do; the
pre-emphasised autocorrelation of `ser_keras.features.voice`) get ``--draws`` draws of relative noise 1e-6 on
their autocorrelation, the size of its float32 rounding. A frame flips when one of its three formants moves by
more than 20 Hz (two grid steps); it moves when none flips but one changes by more than 1e-3 in log frequency.
Prints first the graph form's float32 autocorrelation error (`ser_keras.features.voice.lag_products_graph` of
`pre_emphasised_graph`, in TensorFlow) as a share of ``r(0)``, then, per variant, the flips and moves, the
share of frames without an F1, and for the band centroids their largest move as a share of their range and
their correlation with the formants.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

#: Relative noise on each frame's autocorrelation.
RELATIVE_NOISE = 1e-6
#: A formant that moves more than this (Hz) flips.
FLIP_HZ = 20.0
#: A formant that moves more than this in log frequency (and no more than `FLIP_HZ`) moves.
MOVE_LOG = 1e-3
#: The bands (Hz) of the centroid variant.
CENTROID_BANDS = ((200, 1000), (800, 2600), (1800, 3600))


def autocorrelations(paths: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """Each analysed frame's pre-emphasised autocorrelation, lags 0..order, ``(n_frames, order + 1)``; the frames
    themselves (float32, ``(n_frames, n_fft)``); the sample rate."""
    import scipy.fft

    from ser_keras.features import voice
    from ser_keras.features.functionals import loudest_frame_rms, trim
    from ser_keras.features.fusion_kind import fusion_parts
    from ser_keras.features.level import add_floor, normalize_level, remove_dc
    from ser_keras.features.registry import FeatureConfig
    from ser_keras.layout import PRETRAINED_RUN
    from ser_keras.runs.folders import read_sidecar
    from ser_keras.signal.audio import load
    from ser_keras.signal.spectral import frame_signal, hann_window

    config, _ = fusion_parts(FeatureConfig.from_dict(read_sidecar(PRETRAINED_RUN)["features"]))
    sr, n_fft, order = config.sr, config.n_fft, 2 + config.sr // 1000
    freqs = np.linspace(0.0, sr / 2, n_fft + 1)
    emphasis = np.abs(1.0 - voice.PRE_EMPHASIS * np.exp(-1j * np.pi * freqs / (sr / 2))) ** 2
    window = hann_window(n_fft).astype(np.float64)
    rows, bare = [], []
    for path in paths:
        y = trim(remove_dc(load(path, sr=sr)), config=config)
        y = add_floor(normalize_level(y, loudest_rms=loudest_frame_rms(y, config=config)))
        frames = frame_signal(y[None], n_fft=n_fft, hop_length=config.hop_length, pad_mode="constant")[0]
        power = np.abs(scipy.fft.rfft(frames * window, n=2 * n_fft, axis=-1)) ** 2
        rows.append(scipy.fft.irfft(power * emphasis, axis=-1)[:, : order + 1])
        bare.append(frames.astype(np.float32))
    r, frames = np.concatenate(rows), np.concatenate(bare)
    kept = r[:, 0] > 1e-10
    return r[kept], frames[kept], sr


def graph_error(r: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """The graph form's float32 autocorrelation of ``frames`` against ``r`` (float64), as a share of ``r(0)``."""
    import tensorflow as tf

    from ser_keras.features import voice
    from ser_keras.signal.spectral import hann_window

    window = hann_window(frames.shape[1]).astype(np.float64)
    order = r.shape[1] - 1
    graph = np.concatenate(
        [
            voice.lag_products_graph(voice.pre_emphasised_graph(tf.constant(part), window), order=order).numpy()
            for part in np.array_split(frames, max(1, len(frames) // 2000))
        ]
    )
    return np.abs(graph - r) / r[:, :1]


def formants(r: np.ndarray, *, sr: int, min_curvature: float = 0.0, gamma: float = 1.0, dtype=np.float64) -> np.ndarray:
    """The three lowest envelope peaks of each frame (Hz, inf where missing), optionally only those whose log
    envelope curves down by more than ``min_curvature`` over `PARABOLA_SPAN` steps either side, and with the
    LPC polynomial's bandwidth expanded (``a_k gamma^k``)."""
    from ser_keras.features import voice

    order = r.shape[1] - 1
    cos, sin = (m.astype(dtype) for m in voice.envelope_basis(order=order, sr=sr))
    a = voice.levinson(r.astype(dtype), order=order) * (gamma ** np.arange(order + 1)).astype(dtype)
    inverse = np.maximum(np.square(a @ cos) + np.square(a @ sin), 1e-30)
    is_peak, shift = voice.peak_shifts(inverse, np)
    span, n = voice.PARABOLA_SPAN, voice.formant_grid().size
    centre = inverse[:, span + 1 : span + n - 1]
    curvature = np.log(centre / inverse[:, 1 : n - 1]) + np.log(centre / inverse[:, 2 * span + 1 : 2 * span + n - 1])
    is_peak &= curvature <= -min_curvature
    frequency = np.where(is_peak, voice.formant_grid()[1:-1] + voice.FORMANT_STEP * shift, np.inf)
    return np.sort(frequency, axis=1)[:, :3].astype(np.float64)


def centroids(r: np.ndarray, *, sr: int) -> np.ndarray:
    """The log-frequency mean of the LPC envelope in each of `CENTROID_BANDS`: ``(n_frames, 3)``."""
    from ser_keras.features import voice

    order = r.shape[1] - 1
    grid = np.arange(90.0, 5001.0, 10.0)
    angle = 2 * np.pi * np.outer(np.arange(order + 1), grid) / sr
    a = voice.levinson(r, order=order)
    envelope = 1.0 / np.maximum(np.square(a @ np.cos(angle)) + np.square(a @ np.sin(angle)), 1e-30)
    columns = []
    for low, high in CENTROID_BANDS:
        band = (grid >= low) & (grid < high)
        columns.append(envelope[:, band] @ np.log(grid[band]) / envelope[:, band].sum(axis=1))
    return np.stack(columns, axis=1)


def flips(reference: np.ndarray, other: np.ndarray) -> tuple[int, int]:
    """Frames where a formant moved by more than `FLIP_HZ` (a missing one as far away), and the other frames
    where one moved by more than `MOVE_LOG` in log frequency."""
    moved = np.abs(np.where(np.isfinite(reference), reference, 1e5) - np.where(np.isfinite(other), other, 1e5))
    flipped = (moved > FLIP_HZ).any(axis=1)
    both = np.isfinite(reference) & np.isfinite(other)
    shift = np.abs(np.log(np.where(both, reference, 1.0)) - np.log(np.where(both, other, 1.0)))
    return int(flipped.sum()), int(((shift > MOVE_LOG).any(axis=1) & ~flipped).sum())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--every", type=int, default=8, help="every Nth file of the sorted list")
    parser.add_argument("--draws", type=int, default=5, help="draws of the relative noise")
    args = parser.parse_args(argv)

    from ser_keras.features import voice
    from ser_keras.serving.predict import expand_paths

    r, frames, sr = autocorrelations([str(p) for p in expand_paths([args.folder])][:: args.every])
    error = graph_error(r, frames)
    print(
        f"graph form's float32 autocorrelation, share of r(0): median {np.median(error):.1e}, 99th percentile "
        f"{np.percentile(error, 99):.1e}, largest {error.max():.1e}"
    )
    noisy = [
        r * (1 + RELATIVE_NOISE * np.random.default_rng(seed).standard_normal(r.shape)) for seed in range(args.draws)
    ]
    print(f"{len(r)} frames, {args.draws} draws of relative noise {RELATIVE_NOISE:g} on the autocorrelation")
    print(f"{'variant':48s} {'flips':>6s} {'moves':>6s} {'no F1':>7s}")
    variants = (
        ("the definition", {}, {}),
        ("float32 from the autocorrelation on (no noise)", {"dtype": np.float32}, {}),
        *((f"curvature below -{c:g}", {"min_curvature": c}, {}) for c in (1e-3, 1e-2, 1e-1)),
        *((f"LPC_RIDGE {v:g}", {}, {"LPC_RIDGE": v}) for v in (3e-4, 1e-3, 3e-3)),
        *((f"FLAT_TOP {v:g}", {}, {"FLAT_TOP": v}) for v in (-1e-4, -1e-3, -1e-2)),
        *((f"PARABOLA_SPAN {v}", {}, {"PARABOLA_SPAN": v}) for v in (1, 2)),
        *((f"PARABOLA_SPAN {v}, float32 (no noise)", {"dtype": np.float32}, {"PARABOLA_SPAN": v}) for v in (1, 2)),
        *((f"bandwidth expansion {g:g}", {"gamma": g}, {}) for g in (0.995, 0.99, 0.98)),
    )
    for name, options, constants in variants:
        saved = {key: getattr(voice, key) for key in constants}
        for key, value in constants.items():
            setattr(voice, key, value)
        try:
            reference = formants(r, sr=sr, **{k: v for k, v in options.items() if k != "dtype"})
            if "dtype" in options:
                count = flips(reference, formants(r, sr=sr, dtype=options["dtype"]))
            else:
                count = tuple(map(sum, zip(*(flips(reference, formants(x, sr=sr, **options)) for x in noisy))))
        finally:
            for key, value in saved.items():
                setattr(voice, key, value)
        print(f"{name:48s} {count[0]:6d} {count[1]:6d} {np.mean(~np.isfinite(reference[:, 0])):7.1%}")
    clean = centroids(r, sr=sr)
    spread = np.ptp(clean, axis=0)
    moved = max(float((np.abs(centroids(x, sr=sr) - clean) / spread).max()) for x in noisy)
    peaks = np.log(formants(r, sr=sr))
    correlation = [
        np.corrcoef(clean[ok, k], peaks[ok, k])[0, 1] for k in range(3) if (ok := np.isfinite(peaks[:, k])).any()
    ]
    print(
        f"band centroids: largest move {moved:.1e} of their range; correlation with F1-F3 "
        + " / ".join(f"{c:.2f}" for c in correlation)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
