"""Long recordings as a timeline: speech segments (or fixed windows), one prediction each.

``ser-keras predict RUN long.wav --segments`` finds the speech in a recording by its energy
(`speech_segments`: ``librosa.effects.split``, thresholds below) or cuts it into fixed windows
(``--segments fixed``, `fixed_segments`), scores every segment, and prints (or writes) one row per
segment: ``start``, ``end`` (seconds), ``emotion`` and the probability of each emotion;
``--timeline PNG`` draws them over time (`plot_timeline`). A ``--normalize speaker`` run scores the
recording's segments together, as one speaker's clips.

Energy segmentation, with its defaults: frames of 2048 samples every 512 (at the model's rate) are
speech when their RMS is within ``top_db = 40`` dB of the loudest frame's; speech runs closer than
``min_gap = 0.3`` s are joined, runs shorter than the model's shortest clip (its
``min_duration``, at least 0.5 s) are dropped, and runs longer than ``max_seconds = 4`` s are cut
into equal parts no longer than that, so that the timeline follows changes within a long turn.
"""

from __future__ import annotations

import os

import numpy as np

from .errors import ParameterError

SEGMENT_MODES = ("energy", "fixed")


def speech_segments(
    y: np.ndarray,
    *,
    sr: int,
    top_db: float = 40.0,
    min_gap: float = 0.3,
    min_duration: float = 0.5,
    max_seconds: float = 4.0,
) -> np.ndarray:
    """The spans of ``y`` that hold speech, by frame energy (thresholds in the module's docstring).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    sr : int
    top_db : float > 0
        Frames quieter than the loudest by more than this are silence.
    min_gap, min_duration, max_seconds : float
        Join gaps shorter than ``min_gap`` s, drop spans shorter than ``min_duration`` s, cut spans
        longer than ``max_seconds`` s into equal parts.

    Returns
    -------
    spans : np.ndarray [shape=(k, 2), dtype=int64]
        ``[start, end)`` sample indices, in order, not overlapping.
    """
    import librosa

    if max_seconds < min_duration:
        raise ParameterError(f"max_seconds ({max_seconds}) must be >= min_duration ({min_duration})")
    intervals = librosa.effects.split(np.asarray(y, dtype=np.float32), top_db=top_db, frame_length=2048, hop_length=512)
    joined: list[list[int]] = []
    for start, end in intervals:
        if joined and start - joined[-1][1] < min_gap * sr:
            joined[-1][1] = int(end)
        else:
            joined.append([int(start), int(end)])
    spans = []
    for start, end in joined:
        if end - start < min_duration * sr:
            continue
        parts = int(np.ceil((end - start) / (max_seconds * sr)))
        edges = np.linspace(start, end, parts + 1).round().astype(np.int64)
        spans.extend(zip(edges[:-1], edges[1:]))
    return np.asarray(spans, dtype=np.int64).reshape(-1, 2)


def fixed_segments(n: int, *, sr: int, window: float, hop: float) -> np.ndarray:
    """Windows of ``window`` s every ``hop`` s over ``n`` samples, until one reaches the end (it may be shorter).

    Returns
    -------
    spans : np.ndarray [shape=(k, 2), dtype=int64]
        ``[start, end)`` sample indices (the last ``end`` is at most ``n``).
    """
    if window <= 0 or hop <= 0:
        raise ParameterError(f"segment window and hop must be > 0 s, got {window} and {hop}")
    size, step = int(round(window * sr)), int(round(hop * sr))
    starts = range(0, max(n - size, 0) + step, step) if n > size else [0]
    return np.asarray([(s, min(s + size, n)) for s in starts], dtype=np.int64).reshape(-1, 2)


def predict_timeline(
    predictor,
    waveform: np.ndarray,
    sr: int,
    *,
    mode: str = "energy",
    window: float | None = None,
    hop: float | None = None,
    top_db: float = 40.0,
):
    """Score the segments of one recording.

    Parameters
    ----------
    predictor : ser_keras.predict.Predictor
    waveform : np.ndarray [shape=(n,)]
        Mono float samples.
    sr : int
        Its rate.
    mode : {'energy', 'fixed'}
        `speech_segments` or `fixed_segments`.
    window, hop : float, optional
        ``fixed``: the window (default: the model's training window, else 3 s) and hop (default: half
        the window), in seconds.
    top_db : float
        ``energy``: the silence threshold below the loudest frame.

    Returns
    -------
    table : pd.DataFrame
        One row per segment: ``start``, ``end`` (s), ``emotion``, one probability column per label,
        ``warning`` (a speaker-normalised run with few segments says so).

    Raises
    ------
    ParameterError
        An unknown mode, or no segment long enough to score.
    """
    import pandas as pd

    y = np.asarray(waveform, dtype=np.float32)
    config = predictor.models["mixed"].features
    shortest = max(float(config.min_duration), 0.5)
    if mode == "energy":
        spans = speech_segments(y, sr=sr, top_db=top_db, min_duration=shortest, max_seconds=max(4.0, shortest))
    elif mode == "fixed":
        window = window or (config.duration if config.duration else 3.0)
        spans = fixed_segments(y.shape[0], sr=sr, window=window, hop=hop or window / 2)
        spans = spans[(spans[:, 1] - spans[:, 0]) >= shortest * sr]
    else:
        raise ParameterError(f"--segments is {' or '.join(SEGMENT_MODES)}, got {mode!r}")
    if len(spans) == 0:
        raise ParameterError(f"no segment of at least {shortest:g} s to score (mode {mode})")
    pieces = [y[start:end] for start, end in spans]
    if predictor.normalize in ("speaker", "corpus"):  # the recording's segments are scored as one batch
        results = predictor.predict_speaker(pieces, sr=sr)
    else:
        results = [
            {**predictor.predict(piece, sr, name=f"<segment {i}>"), "warning": None} for i, piece in enumerate(pieces)
        ]
    rows = []
    for (start, end), result in zip(spans, results):
        rows.append(
            {
                "start": round(start / sr, 3),
                "end": round(end / sr, 3),
                "emotion": result["emotion"],
                **{label: result["probabilities"][label] for label in predictor.labels},
                "warning": result.get("warning"),
            }
        )
    return pd.DataFrame(rows)


def plot_timeline(
    table, labels: list[str], path: str | os.PathLike, *, duration: float | None = None, title: str = ""
) -> None:
    """Probabilities over time (one line per emotion, a point per segment) above the emotion bands.

    Parameters
    ----------
    table : pd.DataFrame
        `predict_timeline`'s rows.
    labels : list of str
    path : path
        The PNG, written atomically.
    duration : float, optional
        The recording's length in seconds (the x axis' end).
    """
    from .report import _pyplot, save_figure

    plt, _ = _pyplot()
    fig, (top, bands) = plt.subplots(
        2, 1, figsize=(10, 4.2), sharex=True, gridspec_kw={"height_ratios": [4, 1]}, constrained_layout=True
    )
    colours = {label: f"C{i % 10}" for i, label in enumerate(labels)}
    centres = (table["start"] + table["end"]) / 2
    for label in labels:
        top.plot(centres, table[label], marker="o", markersize=3, color=colours[label], label=label)
    top.set_ylim(0, 1)
    top.set_ylabel("probability")
    top.legend(fontsize=7, ncol=min(len(labels), 4), loc="upper right")
    top.grid(alpha=0.3)
    for start, end, emotion in zip(table["start"], table["end"], table["emotion"]):
        bands.broken_barh([(start, end - start)], (0, 1), color=colours[emotion])
        if end - start > 0.04 * (duration or float(table["end"].max())):
            bands.text((start + end) / 2, 0.5, emotion, ha="center", va="center", fontsize=7, color="white")
    bands.set_yticks([])
    bands.set_xlabel("time (s)")
    bands.set_xlim(0, duration or float(table["end"].max()))
    top.set_title(title or "emotion over time", fontsize=9)
    save_figure(fig, path)
