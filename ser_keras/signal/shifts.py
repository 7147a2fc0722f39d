"""The robustness benchmark's distribution shifts: fixed, documented settings of `ser_keras.signal.channel`.

``ser-keras evaluate RUN --shift white-10db,telephone`` (or ``--shift all``) scores a run's test clips
through each shift (`ser_keras.evaluation.robustness`). A shift is seeded per clip, so the same run, clips and
seed give the same table.

=============  ===============================================================================
name           what the clip goes through
=============  ===============================================================================
white-20db     white Gaussian noise at 20 dB SNR (the clip's mean power over the noise's)
white-10db     white noise at 10 dB SNR
white-0db      white noise at 0 dB SNR
pink-10db      pink (1/f) noise at 10 dB SNR, closer to room and babble noise than white
pink-0db       pink noise at 0 dB SNR
reverb-0.3s    a synthetic room: direct sound plus a noise tail decaying 60 dB in 0.3 s
reverb-0.8s    the same with a reverberation time of 0.8 s (a large, bare room)
telephone      8 kHz, 300-3400 Hz band, G.711 mu-law, back to the model's rate
mp3-low        an MP3 round trip at constant bitrate, libsndfile compression 0.95 (about 16 kbps)
opus-low       an Opus round trip, libsndfile compression 0.95 (about 20 kbps)
quiet          20 dB quieter (a far microphone, a low input gain)
loud           20 dB louder, clipped at full scale (an overdriven input)
tilt-up        +4 dB per octave around 1 kHz (a bright, close microphone)
tilt-down      -4 dB per octave around 1 kHz (a dull microphone, a muffled room)
=============  ===============================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from ..errors import ParameterError

if TYPE_CHECKING:  # numpy and scipy load when a shift is applied, not when the command line lists them
    import numpy as np

#: Bumped when a shift's algorithm or setting changes, so that cached shifted features are not reused.
SHIFT_VERSION = 1


@dataclass(frozen=True)
class Shift:
    """One recording condition of the benchmark.

    Attributes
    ----------
    name : str
    description : str
    family : str
        ``noise``, ``room``, ``channel``, ``codec``, ``level`` or ``microphone``.
    apply : callable
        ``apply(y, sr=sr, rng=rng) -> y_shifted``, the same length as ``y``.
    """

    name: str
    description: str
    family: str
    apply: Callable[..., np.ndarray]


def _noise(y, *, sr, rng, snr_db, color):
    from . import channel

    return channel.add_noise_at_snr(y, rng=rng, snr_db=snr_db, color=color)


def _reverb(y, *, sr, rng, rt60):
    from . import channel

    return channel.reverberate(y, sr=sr, rt60=rt60, rng=rng)


def _telephone(y, *, sr, rng):
    from . import channel

    return channel.telephone(y, sr=sr)


def _codec(y, *, sr, rng, codec, compression):
    from . import channel

    return channel.codec_round_trip(y, sr=sr, codec=codec, compression=compression)


def _gain(y, *, sr, rng, db):
    from . import channel

    return channel.change_gain(y, db=db)


def _tilt(y, *, sr, rng, db_per_octave):
    from . import channel

    return channel.spectral_tilt(y, sr=sr, db_per_octave=db_per_octave)


SHIFTS: dict[str, Shift] = {
    shift.name: shift
    for shift in (
        Shift("white-20db", "white noise, 20 dB SNR", "noise", partial(_noise, snr_db=20.0, color="white")),
        Shift("white-10db", "white noise, 10 dB SNR", "noise", partial(_noise, snr_db=10.0, color="white")),
        Shift("white-0db", "white noise, 0 dB SNR", "noise", partial(_noise, snr_db=0.0, color="white")),
        Shift("pink-10db", "pink noise, 10 dB SNR", "noise", partial(_noise, snr_db=10.0, color="pink")),
        Shift("pink-0db", "pink noise, 0 dB SNR", "noise", partial(_noise, snr_db=0.0, color="pink")),
        Shift("reverb-0.3s", "synthetic room, RT60 0.3 s", "room", partial(_reverb, rt60=0.3)),
        Shift("reverb-0.8s", "synthetic room, RT60 0.8 s", "room", partial(_reverb, rt60=0.8)),
        Shift("telephone", "8 kHz, 300-3400 Hz, G.711 mu-law", "channel", _telephone),
        Shift("mp3-low", "MP3 round trip, about 16 kbps", "codec", partial(_codec, codec="mp3", compression=0.95)),
        Shift("opus-low", "Opus round trip, about 20 kbps", "codec", partial(_codec, codec="opus", compression=0.95)),
        Shift("quiet", "20 dB quieter", "level", partial(_gain, db=-20.0)),
        Shift("loud", "20 dB louder, clipped", "level", partial(_gain, db=20.0)),
        Shift("tilt-up", "+4 dB per octave around 1 kHz", "microphone", partial(_tilt, db_per_octave=4.0)),
        Shift("tilt-down", "-4 dB per octave around 1 kHz", "microphone", partial(_tilt, db_per_octave=-4.0)),
    )
}


def parse_shifts(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"white-10db,telephone"`` -> ``("white-10db", "telephone")``; ``"all"`` gives every shift in table order."""
    items = text.split(",") if isinstance(text, str) else list(text)
    names: list[str] = []
    for item in (i.strip().lower() for i in items):
        if not item:
            continue
        if item == "all":
            names.extend(n for n in SHIFTS if n not in names)
            continue
        if item not in SHIFTS:
            raise ParameterError(f"unknown shift {item!r}; choose from {', '.join(SHIFTS)} or all")
        if item not in names:
            names.append(item)
    if not names:
        raise ParameterError(f"no shift given; choose from {', '.join(SHIFTS)} or all")
    return tuple(names)


def apply_shift(y: np.ndarray, name: str, *, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Put a waveform through the shift ``name``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), dtype=float32]
    name : str
        A key of `SHIFTS`.
    sr : int
    rng : np.random.Generator
        Draws the noise and the room; the same state gives the same output.

    Returns
    -------
    y_shifted : np.ndarray [shape=(n,), dtype=float32]
    """
    import numpy as np

    if name not in SHIFTS:
        raise ParameterError(f"unknown shift {name!r}; choose from {', '.join(SHIFTS)}")
    return SHIFTS[name].apply(np.asarray(y, dtype=np.float32), sr=sr, rng=rng)
