"""Long recordings as a timeline: speech segments (or fixed windows), one prediction each.

``ser-keras predict RUN long.wav --segments`` finds the speech in a recording by its energy
(`speech_segments`: ``librosa.effects.split``, thresholds below) or cuts it into fixed windows
(``--segments fixed``, `fixed_segments`), scores every segment, and prints (or writes) one row per
segment: ``start``, ``end`` (seconds), ``emotion`` and the probability of each emotion;
``--timeline PNG`` draws them over time (`plot_timeline`). A ``--normalize speaker`` run scores the
recording's segments together, as one speaker's clips.

Energy segmentation, with its defaults: frames of 2048 samples every 512 (at the model's rate) are
speech when their RMS is within ``top_db = 40`` dB of the loudest frame's or `NOISE_MARGIN_DB`
above the recording's noise floor (its 10th percentile frame), so a quiet speaker beside a loud one
is still found, and louder than `QUIETEST_SPEECH_DBFS` (`speech_reference`); speech runs closer than
``min_gap = 0.3`` s are joined, runs shorter than the model's shortest clip (its
``min_duration``, at least 0.5 s) are dropped, and runs longer than ``max_seconds = 4`` s are cut
into equal parts no longer than that, so that the timeline follows changes within a long turn.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import ParameterError

SEGMENT_MODES = ("energy", "fixed")
#: Frames this far above the noise floor are speech, however loud the loudest frame is.
NOISE_MARGIN_DB = 15.0
#: ... unless they are quieter than this (dB re full scale): near-silence is never speech.
QUIETEST_SPEECH_DBFS = -60.0
#: The most windows ``--segments fixed`` scores in one recording.
MAX_SEGMENTS = 10_000


def speech_reference(rms: np.ndarray, *, top_db: float) -> float:
    """The reference amplitude of `librosa.effects.split` that makes its ``top_db`` a noise-floor criterion.

    librosa keeps frames within ``top_db`` of the reference; with this reference those are the
    frames within ``top_db`` of the loudest or `NOISE_MARGIN_DB` above the noise floor (the 10th
    percentile frame), whichever threshold is lower, and never frames below `QUIETEST_SPEECH_DBFS`.

    Parameters
    ----------
    rms : np.ndarray [shape=(..., n_frames)]
        Frame RMS amplitudes.
    top_db : float > 0

    Returns
    -------
    ref : float
        An amplitude.
    """
    db = 20 * np.log10(np.maximum(np.asarray(rms, dtype=np.float64), 1e-5))
    loudest, floor = float(db.max()), float(np.percentile(db, 10))
    threshold = max(min(loudest - top_db, floor + NOISE_MARGIN_DB), QUIETEST_SPEECH_DBFS)
    return float(10 ** ((threshold + top_db) / 20))


#: Frame length and hop (samples) of the energy that `speech_segments` thresholds (``librosa.effects.split``'s).
SPLIT_FRAME, SPLIT_HOP = 2048, 512


def frame_rms(y: np.ndarray, *, frame_length: int, hop_length: int, block: int = 1 << 20) -> np.ndarray:
    """``librosa.feature.rms`` of a centred, zero-padded signal, in memory that does not grow with frames.

    The frame energies are sums of hop-long blocks' energies, which are summed ``block``
    samples at a time in float64; librosa's framing would hold ``frame_length / hop_length``
    copies of the signal (11 GB for three hours at 16 kHz).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    frame_length : int
        A multiple of ``hop_length``.
    hop_length : int
    block : int
        Samples squared at a time (a multiple of ``hop_length``).

    Returns
    -------
    rms : np.ndarray [shape=(1 + n // hop_length,), dtype=float64]
    """
    half = frame_length // 2
    if frame_length % hop_length or half % hop_length or block % hop_length:
        raise ParameterError("frame_length / 2 and block must be multiples of hop_length")
    n_frames = 1 + len(y) // hop_length
    span = frame_length // hop_length  # hop blocks per frame
    energy = np.zeros(n_frames + span - 1)  # hop blocks of the padded signal: half zeros, y, zeros
    lead = half // hop_length
    for start in range(0, len(y), block):
        piece = np.square(np.asarray(y[start : start + block], dtype=np.float64))
        piece = np.concatenate([piece, np.zeros(-len(piece) % hop_length)])
        sums = piece.reshape(-1, hop_length).sum(axis=1)
        first = lead + start // hop_length
        energy[first : first + len(sums)] = sums[: len(energy) - first]
    window = np.convolve(energy, np.ones(span), mode="valid")[:n_frames]
    return np.sqrt(np.maximum(window, 0.0) / frame_length)


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
        Frames quieter than the loudest by more than this are silence, unless they stand out
        from the noise floor (`speech_reference`).
    min_gap, min_duration, max_seconds : float
        Join gaps shorter than ``min_gap`` s, drop spans shorter than ``min_duration`` s, cut spans
        longer than ``max_seconds`` s into equal parts.

    Returns
    -------
    spans : np.ndarray [shape=(k, 2), dtype=int64]
        ``[start, end)`` sample indices, in order, not overlapping.
    """
    if max_seconds < min_duration:
        raise ParameterError(f"max_seconds ({max_seconds}) must be >= min_duration ({min_duration})")
    rms = frame_rms(y, frame_length=SPLIT_FRAME, hop_length=SPLIT_HOP)
    loud = (
        20 * np.log10(np.maximum(rms, 1e-5)) > 20 * np.log10(max(speech_reference(rms, top_db=top_db), 1e-5)) - top_db
    )
    edges = np.flatnonzero(np.diff(np.concatenate([[False], loud, [False]]).astype(np.int8)))  # run starts, ends
    intervals = np.minimum(edges * SPLIT_HOP, len(y)).reshape(-1, 2)  # librosa.effects.split's frames to samples
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


def count_fixed_segments(n: int, *, sr: int, window: float, hop: float) -> int:
    """How many windows `fixed_segments` cuts from ``n`` samples (without cutting them).

    Raises
    ------
    ParameterError
        A window or hop that is not positive or shorter than one sample, or more than `MAX_SEGMENTS`
        windows (the message says the shortest hop that fits).
    """
    if not (window > 0 and hop > 0 and round(window * sr) >= 1 and round(hop * sr) >= 1):
        raise ParameterError(f"segment window and hop must be > 0 s and at least one sample, got {window} and {hop}")
    size, step = int(round(window * sr)), int(round(hop * sr))
    count = 1 if n <= size else -(-(n - size) // step) + 1
    if count > MAX_SEGMENTS:
        shortest = (n - size) / sr / (MAX_SEGMENTS - 1)
        raise ParameterError(
            f"--hop {hop:g} over {n / sr:.0f} s makes {count:,} windows; at most {MAX_SEGMENTS:,} "
            f"(use a --hop of at least {np.ceil(shortest * 100) / 100:g} s)"
        )
    return count


def fixed_segments(n: int, *, sr: int, window: float, hop: float) -> np.ndarray:
    """Windows of ``window`` s every ``hop`` s over ``n`` samples, until one reaches the end (it may be shorter).

    Returns
    -------
    spans : np.ndarray [shape=(k, 2), dtype=int64]
        ``[start, end)`` sample indices (the last ``end`` is at most ``n``); at most `MAX_SEGMENTS`.

    Raises
    ------
    ParameterError
        As `count_fixed_segments`.
    """
    count = count_fixed_segments(n, sr=sr, window=window, hop=hop)
    size, step = int(round(window * sr)), int(round(hop * sr))
    starts = np.arange(count, dtype=np.int64) * step
    return np.stack([starts, np.minimum(starts + size, n)], axis=1)


def fixed_window(config, *, window: float | None, hop: float | None) -> tuple[float, float]:
    """``--segments fixed``'s window and hop in seconds: as given, else the model's training window
    (3 s for kinds without one) and half of it."""
    window = window or (config.duration if config.duration else 3.0)
    return window, hop or window / 2


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
    predictor : ser_keras.serving.predict.Predictor
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
        ``warning``: a segment that cannot be scored (a silent window) has no emotion and says why;
        a speaker-normalised run with few segments says so.

    Raises
    ------
    ParameterError
        An unknown mode, too many windows (`count_fixed_segments`), or no segment long enough to score.
    """
    import pandas as pd

    y = np.asarray(waveform, dtype=np.float32)
    config = predictor.models["mixed"].features
    shortest = max(float(config.min_duration), 0.5)
    if mode == "energy":
        spans = speech_segments(y, sr=sr, top_db=top_db, min_duration=shortest, max_seconds=max(4.0, shortest))
    elif mode == "fixed":
        window, hop = fixed_window(config, window=window, hop=hop)
        spans = fixed_segments(y.shape[0], sr=sr, window=window, hop=hop)
        spans = spans[(spans[:, 1] - spans[:, 0]) >= shortest * sr]
    else:
        raise ParameterError(f"--segments is {' or '.join(SEGMENT_MODES)}, got {mode!r}")
    if len(spans) == 0:
        raise ParameterError(f"no segment of at least {shortest:g} s to score (mode {mode})")
    from ..signal.audio import is_silent

    pieces = [y[start:end] for start, end in spans]
    silent = [is_silent(piece) for piece in pieces]
    results: list[dict] = [{"warning": "silent (peak below -80 dBFS): not scored"} if s else {} for s in silent]
    heard = [i for i, s in enumerate(silent) if not s]
    if predictor.normalize in ("speaker", "corpus") and heard:  # the recording's segments are scored as one batch
        for i, result in zip(heard, predictor.predict_speaker([pieces[i] for i in heard], sr=sr)):
            results[i] = result
    else:
        for i in heard:
            try:
                results[i] = {**predictor.predict(pieces[i], sr, name=f"<segment {i}>"), "warning": None}
            except ParameterError as exc:  # a window too short or too quiet to score: a row saying so
                results[i] = {"warning": f"not scored: {str(exc).removeprefix(f'<segment {i}>: ')}"}
    rows = []
    for (start, end), result in zip(spans, results):
        probabilities = result.get("probabilities", {})
        rows.append(
            {
                "start": round(start / sr, 3),
                "end": round(end / sr, 3),
                "emotion": result.get("emotion"),
                **{label: probabilities.get(label, np.nan) for label in predictor.labels},
                "warning": result.get("warning"),
            }
        )
    return pd.DataFrame(rows)


def emotion_colours(labels: list[str]) -> dict[str, str]:
    """One colour per emotion (matplotlib's ``tab10`` cycle, in label order), the same on the page and in PNGs."""
    from matplotlib.colors import to_hex

    return {label: to_hex(f"C{i % 10}") for i, label in enumerate(labels)}


def owned_spans(table) -> np.ndarray:
    """The span of time each row stands for: its own segment, cut halfway into any overlap with its neighbours.

    Fixed windows overlap (the hop is half the window by default); drawn whole they would cover each
    other and their labels collide.

    Returns
    -------
    spans : np.ndarray [shape=(len(table), 2), dtype=float64]
        Seconds, in order, not overlapping.
    """
    spans = table[["start", "end"]].to_numpy(dtype=np.float64).copy()
    for i in range(1, len(spans)):
        if spans[i, 0] < spans[i - 1, 1]:
            middle = (spans[i - 1, 1] + spans[i, 0]) / 2
            spans[i - 1, 1], spans[i, 0] = middle, middle
    return spans


def timeline_figure(table, labels: list[str], *, duration: float | None = None, title: str = ""):
    """Probabilities over time (a line per emotion, broken where no speech was scored) above the emotion bands.

    Parameters
    ----------
    table : pd.DataFrame
        `predict_timeline`'s rows; rows without an emotion (silent windows) are gaps.
    labels : list of str
    duration : float, optional
        The recording's length in seconds (the time axis' end).
    title : str

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    from ..figures import pyplot

    plt, _ = pyplot()
    end = duration or float(table["end"].max())
    fig, (top, bands) = plt.subplots(
        2, 1, figsize=(10, 4.4), sharex=True, gridspec_kw={"height_ratios": [4, 1]}, constrained_layout=True
    )
    colours = emotion_colours(labels)
    spans = owned_spans(table)
    scored = table["emotion"].notna().to_numpy()
    # a point per scored segment; consecutive segments are joined, a gap (silence, unscored) breaks the line
    joined = np.r_[False, (np.abs(spans[1:, 0] - spans[:-1, 1]) < 1e-6) & scored[1:] & scored[:-1]]
    centres = (table["start"].to_numpy() + table["end"].to_numpy()) / 2
    for label in labels:
        values = table[label].to_numpy(dtype=np.float64)
        x, y = [], []
        for i in range(len(table)):
            if not scored[i]:
                continue
            if x and not joined[i]:
                x.append(np.nan)
                y.append(np.nan)
            x.append(centres[i])
            y.append(values[i])
        top.plot(x, y, marker="o", markersize=3, color=colours[label], label=label)
    top.set_ylim(0, 1.02)
    top.set_ylabel("probability")
    top.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, title="emotion")
    top.grid(alpha=0.3)
    previous = None
    for (start, stop), emotion in zip(spans, table["emotion"]):
        if not isinstance(emotion, str):
            previous = None
            continue
        bands.broken_barh([(start, stop - start)], (0, 1), color=colours.get(emotion, "lightgrey"))
        if emotion != previous and stop - start > 0.04 * end:  # a label where the emotion changes, if it fits
            bands.text((start + stop) / 2, 0.5, emotion, ha="center", va="center", fontsize=7, color="white")
        previous = emotion
    bands.set_yticks([])
    bands.set_ylabel("emotion", rotation=0, ha="right", va="center")
    bands.set_xlabel("time (s)")
    bands.set_xlim(0, end)
    top.set_title(title or "emotion over time", fontsize=9)
    return fig


def plot_timeline(
    table, labels: list[str], path: str | os.PathLike, *, duration: float | None = None, title: str = ""
) -> None:
    """Write `timeline_figure` to ``path`` (a PNG, atomically)."""
    from ..figures import save_figure

    save_figure(timeline_figure(table, labels, duration=duration, title=title), path)
