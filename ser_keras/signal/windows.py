"""The windows a model scores: a waveform cut like the training clips.

A clip is cut into consecutive windows of the training ``duration`` starting at the
training ``offset`` (`segments`), or, for kinds without a fixed window, taken whole up to
`MAX_WINDOW_SECONDS`; `stream_windows` gives the same windows from a file read block by
block.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ParameterError
from .audio import fix_length

if TYPE_CHECKING:
    from ..features.config import FeatureConfig

#: Kinds without a fixed window (``functionals``) score a clip whole up to this length,
#: and longer audio in consecutive windows of this length.
MAX_WINDOW_SECONDS = 30.0


def segments(y: np.ndarray, *, config: FeatureConfig) -> list[np.ndarray]:
    """Cut a waveform into the windows a model of ``config`` scores (`stream_windows` of one block).

    The first window starts at ``config.offset`` when at least ``min_duration`` remains
    after it (else at 0), as in training; further windows follow back to back while at
    least half a window of audio is left.  Fixed-length features get each window
    zero-padded (centred) to ``config.n_samples``.  Kinds without a fixed ``duration``
    take the clip whole, or windows of `MAX_WINDOW_SECONDS` when it is longer.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), dtype=float32]
        At ``config.sr``.
    config : FeatureConfig

    Returns
    -------
    windows : list of np.ndarray [shape=(m,)]
    """
    return list(stream_windows([y], config=config))


def stream_windows(blocks: Iterable[np.ndarray], *, config: FeatureConfig) -> Iterator[np.ndarray]:
    """The windows of `segments`, from a waveform that arrives in consecutive blocks.

    Holds at most about one window plus one block in memory; the windows are those
    `segments` gives for the concatenated blocks.

    Parameters
    ----------
    blocks : iterable of np.ndarray [shape=(m_i,), dtype=float32]
        At ``config.sr``.
    config : FeatureConfig

    Yields
    ------
    window : np.ndarray [shape=(m,)]

    Raises
    ------
    ParameterError
        The audio is too short for one analysis frame.
    """
    sr = config.sr
    offset = int(round(config.offset * sr))
    keep_after_offset = int(round(config.min_duration * sr))
    length = config.n_samples if config.duration is not None else int(round(MAX_WINDOW_SECONDS * sr))
    buffer = np.zeros(0, dtype=np.float32)
    position = 0  # where the audio not yet windowed starts in buffer
    started = False  # the first window's start is decided
    emitted = 0

    def finish(window: np.ndarray) -> np.ndarray:
        if config.fixed_length:
            return fix_length(window, size=config.n_samples, mode="centre")
        if emitted == 0 and window.shape[0] < config.n_fft // 2:
            raise ParameterError(f"too short for one analysis frame ({window.shape[0] / sr:.3f} s)")
        return window

    for block in blocks:
        buffer = np.concatenate([buffer[position:], block])  # copies less than a window plus the block
        position = 0
        if not started and buffer.shape[0] >= offset + keep_after_offset:
            position, started = offset, True  # enough audio after the offset: start there
        while started and buffer.shape[0] - position >= length:
            yield finish(buffer[position : position + length])
            emitted += 1
            position += length
    rest = buffer[position:]
    if emitted == 0:  # the whole clip is shorter than offset + min_duration, or than one window
        yield finish(rest if started else rest[:length])
    elif rest.shape[0] >= max(length // 2, 1):
        yield finish(rest)
