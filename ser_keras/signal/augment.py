"""Data augmentation: pure functions of a waveform (or a spectrogram) and an explicit ``rng``.

Waveform steps (``--augment``): ``noise`` (white noise at an SNR), ``stretch``
(time-stretch, pitch kept), ``pitch`` (pitch shift, tempo kept), ``speed`` (rate
change that moves pitch and tempo together) and ``shift`` (circular time shift); the channel
steps (`ser_keras.signal.channel`) ``pink`` (pink noise at an SNR), ``reverb`` (a synthetic room),
``telephone`` (8 kHz, 300-3400 Hz, mu-law), ``codec`` (an MP3 or Opus round trip), ``tilt``
(a microphone's spectral tilt) and ``gain`` (a level change, clipped), and ``channel``: one of
those six drawn at random for each file, so one extra view covers them all.
A *recipe* is one augmented view: a step, or steps joined by ``+`` applied in
order (``stretch+pitch``, as the 162-feature seed project composed them; adjacent
``stretch`` and ``pitch`` run as one phase vocoder and one resample, `stretch_and_shift`).
``--augment noise,stretch+pitch`` therefore gives every training file three rows:
the original, a noisy view, and a stretched-and-shifted view.

`spec_augment` masks frequency and time bands of a spectrogram (SpecAugment,
Park et al. 2019) for the ``mel`` representation.

Augmentation is for the training split only; `ser_keras.extraction.extract` never applies it
to validation or test files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import ParameterError
from ..options import float_pair, number, option
from .audio import fix_length

#: Bumped when a step's algorithm changes what it outputs (2: adjacent stretch+pitch fused), so that
#: cached augmented views are never reused across it (`ser_keras.extraction.extract.fingerprint`).
ALGORITHM_VERSION = 2
CHANNEL_STEPS = ("pink", "reverb", "telephone", "codec", "tilt", "gain")
WAVEFORM_STEPS = ("noise", "stretch", "pitch", "speed", "shift", *CHANNEL_STEPS, "channel")


#: The help section of the augmentation options.
AUGMENT_GROUP = "augmentation (training split only; one extra view per recipe)"


def _recipes_type(text: str) -> tuple[tuple[str, ...], ...]:
    import argparse

    try:
        return parse_recipes(text)
    except ParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_recipes_type.__name__ = "recipes"


def recipes_text(recipes: tuple[tuple[str, ...], ...]) -> str:
    """Recipes as typed: ``(("noise",), ("stretch", "pitch"))`` -> ``"noise,stretch+pitch"``; ``"none"`` for none."""
    return ",".join("+".join(recipe) for recipe in recipes) or "none"


@dataclass(frozen=True)
class AugmentConfig:
    """Recipes and the ranges their parameters are drawn from (uniformly); part of the cache key.

    Each field is a command-line option (`ser_keras.options`); the defaults are the
    command line's: a speed-perturbed view and a channel view (one of the six channel steps,
    drawn per file) of every training file.
    """

    recipes: tuple[tuple[str, ...], ...] = option(
        (("speed",), ("channel",)),
        flag="--augment",
        type=_recipes_type,
        metavar="RECIPES",
        text=recipes_text,
        group=AUGMENT_GROUP,
        help="comma-separated recipes of noise, stretch, pitch, speed, shift, and the channel steps pink, "
        "reverb, telephone, codec, tilt, gain, or channel (one of those six at random per file); join steps with + "
        "(e.g. noise,stretch+pitch gives each training file 3 rows); none for no augmentation "
        "(default: speed,channel, a speed view and a channel view of each training file, chosen by speaker "
        "cross-validation and the robustness table)",
    )
    snr_db: tuple[float, float] = option(
        (10.0, 30.0),
        type=float_pair(low=-10, high=100),
        metavar="LOW,HIGH",
        group=AUGMENT_GROUP,
        help="noise SNR range (dB)",
    )
    stretch_rate: tuple[float, float] = option(
        (0.8, 1.25),
        type=float_pair(low=0.25, high=4),
        metavar="LOW,HIGH",
        group=AUGMENT_GROUP,
        help="time-stretch rates",
    )
    pitch_semitones: tuple[float, float] = option(
        (-3.0, 3.0),
        type=float_pair(low=-24, high=24),
        metavar="LOW,HIGH",
        group=AUGMENT_GROUP,
        help="pitch shift range",
    )
    speed_rate: tuple[float, float] = option(
        (0.85, 1.15),
        type=float_pair(low=0.25, high=4),
        metavar="LOW,HIGH",
        group=AUGMENT_GROUP,
        help="speed change range",
    )
    shift_fraction: float = option(
        0.2,
        type=number(float, low=0, high=1),
        group=AUGMENT_GROUP,
        help="max circular shift as a fraction of length",
    )
    rt60: tuple[float, float] = option(
        (0.2, 0.8),
        type=float_pair(low=0.05, high=3),
        metavar="LOW,HIGH",
        group=AUGMENT_GROUP,
        help="reverberation times of the reverb step (s)",
    )
    codec_compression: tuple[float, float] = option(
        (0.8, 0.95),
        type=float_pair(low=0, high=0.95),
        metavar="LOW,HIGH",
        group=AUGMENT_GROUP,
        help="libsndfile compression levels of the codec step (0.95: about 16-20 kbps)",
    )
    tilt_db_per_octave: tuple[float, float] = option(
        (-4.0, 4.0),
        type=float_pair(low=-12, high=12),
        metavar="LOW,HIGH",
        group=AUGMENT_GROUP,
        help="spectral tilts of the tilt step (dB per octave around 1 kHz)",
    )
    gain_db: tuple[float, float] = option(
        (-20.0, 10.0),
        type=float_pair(low=-60, high=40),
        metavar="LOW,HIGH",
        group=AUGMENT_GROUP,
        help="level changes of the gain step (dB; clipped at full scale)",
    )

    @property
    def names(self) -> list[str]:
        """The recipe names as written: ``['noise', 'stretch+pitch']``."""
        return ["+".join(recipe) for recipe in self.recipes]

    def to_dict(self) -> dict:
        data = asdict(self)
        data["recipes"] = self.names
        return data


def parse_recipes(text: str | Sequence[str] | None) -> tuple[tuple[str, ...], ...]:
    """``"noise,stretch+pitch"`` -> ``(("noise",), ("stretch", "pitch"))``; duplicates are refused."""
    if not text:
        return ()
    items = text.split(",") if isinstance(text, str) else list(text)
    recipes = []
    for item in (i.strip().lower() for i in items):
        if not item or item == "none":
            continue
        steps = tuple(s.strip() for s in item.split("+"))
        for step in steps:
            if step not in WAVEFORM_STEPS:
                raise ParameterError(
                    f"unknown augmentation {step!r}; choose from {', '.join(WAVEFORM_STEPS)} (join with +)"
                )
        if steps in recipes:
            raise ParameterError(f"augmentation {item!r} is given twice")
        recipes.append(steps)
    return tuple(recipes)


def add_noise(y: np.ndarray, *, rng: np.random.Generator, snr_db: float) -> np.ndarray:
    """Add white Gaussian noise at ``snr_db`` relative to the signal's mean power.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    rng : np.random.Generator
    snr_db : float

    Returns
    -------
    y_noisy : np.ndarray [shape=(n,), dtype=float32]
    """
    power = float(np.mean(np.square(y, dtype=np.float64)))
    sigma = np.sqrt(power / 10.0 ** (snr_db / 10.0))
    return (y + rng.normal(0.0, sigma, y.shape)).astype(np.float32)


def time_stretch(y: np.ndarray, *, rate: float) -> np.ndarray:
    """Phase-vocoder time stretch (``librosa.effects.time_stretch``): ``rate > 1`` is faster.

    Returns
    -------
    y_stretched : np.ndarray [shape=(≈ n / rate,), dtype=float32]
    """
    import librosa

    return librosa.effects.time_stretch(y, rate=rate).astype(np.float32, copy=False)


def pitch_shift(y: np.ndarray, *, sr: int, semitones: float) -> np.ndarray:
    """Shift pitch by ``semitones`` keeping the duration (``librosa.effects.pitch_shift``, soxr).

    Returns
    -------
    y_shifted : np.ndarray [shape=(n,), dtype=float32]
    """
    import librosa

    return librosa.effects.pitch_shift(y, sr=sr, n_steps=semitones, res_type="soxr_hq").astype(np.float32, copy=False)


def stretch_and_shift(y: np.ndarray, *, sr: int, rate: float, semitones: float) -> np.ndarray:
    """`time_stretch` by ``rate`` and `pitch_shift` by ``semitones`` with one phase vocoder and one resample.

    ``pitch_shift`` is itself a stretch by ``2 ** (-semitones / 12)`` followed by a resample
    back to the original duration, so the two stretches are done as one (the phase
    vocoder of the product rate), then the resample (soxr, as ``librosa.effects.pitch_shift``).
    About twice as fast as the two calls in turn; the same sound up to the phase
    vocoder's own artefacts (tested: the same length, and the pitch moved as asked).

    Returns
    -------
    y_aug : np.ndarray [shape=(round(n / rate),), dtype=float32]
    """
    import soxr

    pitch_rate = 2.0 ** (-float(semitones) / 12.0)
    stretched = time_stretch(y, rate=rate * pitch_rate)
    shifted = soxr.resample(stretched, sr / pitch_rate, sr, quality="soxr_hq").astype(np.float32, copy=False)
    return fix_length(shifted, size=int(round(y.shape[0] / rate)), mode="start")


def change_speed(y: np.ndarray, *, rate: float) -> np.ndarray:
    """Play ``rate`` times faster, moving pitch and tempo together (resampling, as tape speed).

    Returns
    -------
    y_fast : np.ndarray [shape=(≈ n / rate,), dtype=float32]
    """
    import soxr

    return soxr.resample(y, rate, 1.0, quality="soxr_hq").astype(np.float32, copy=False)


def time_shift(y: np.ndarray, *, shift: int) -> np.ndarray:
    """Roll the signal by ``shift`` samples (positive = later), wrapping around.

    Returns
    -------
    y_shifted : np.ndarray [shape=(n,)]
    """
    return np.roll(y, shift)


def apply_recipe(
    y: np.ndarray, recipe: Sequence[str], *, sr: int, rng: np.random.Generator, config: AugmentConfig
) -> np.ndarray:
    """Apply the steps of one recipe in order, drawing each parameter from ``rng``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), dtype=float32]
    recipe : sequence of str
        Steps from `WAVEFORM_STEPS`.
    sr : int
    rng : np.random.Generator
        The only source of randomness: the same generator state gives the same output.
    config : AugmentConfig
        Parameter ranges.

    Returns
    -------
    y_aug : np.ndarray [shape=(m,), dtype=float32]
        ``m`` differs from ``n`` after ``stretch`` or ``speed``.
    """
    steps = list(recipe)
    while steps:
        step = steps.pop(0)
        if {step, steps[0] if steps else None} == {"stretch", "pitch"}:  # adjacent: one phase vocoder, one resample
            if step == "stretch":  # parameters drawn in the recipe's order, as the two steps would draw them
                rate = _draw_away_from_one(rng, config.stretch_rate)
                semitones = _draw_away_from_zero(rng, config.pitch_semitones)
            else:
                semitones = _draw_away_from_zero(rng, config.pitch_semitones)
                rate = _draw_away_from_one(rng, config.stretch_rate)
            y = stretch_and_shift(y, sr=sr, rate=rate, semitones=semitones)
            steps.pop(0)
        elif step == "noise":
            y = add_noise(y, rng=rng, snr_db=rng.uniform(*config.snr_db))
        elif step == "stretch":
            y = time_stretch(y, rate=_draw_away_from_one(rng, config.stretch_rate))
        elif step == "pitch":
            y = pitch_shift(y, sr=sr, semitones=_draw_away_from_zero(rng, config.pitch_semitones))
        elif step == "speed":
            y = change_speed(y, rate=_draw_away_from_one(rng, config.speed_rate))
        elif step == "shift":
            limit = int(config.shift_fraction * y.shape[0])
            y = time_shift(y, shift=int(rng.integers(-limit, limit + 1)))
        elif step in CHANNEL_STEPS or step == "channel":
            y = channel_step(y, step, sr=sr, rng=rng, config=config)
        else:
            raise ParameterError(f"unknown augmentation step {step!r}")
    return y


def channel_step(y: np.ndarray, step: str, *, sr: int, rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    """One channel step of a recipe, its setting drawn from ``rng`` within ``config``'s ranges.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), dtype=float32]
    step : str
        One of `CHANNEL_STEPS`, or ``channel`` for one of them drawn uniformly.
    sr : int
    rng : np.random.Generator
    config : AugmentConfig

    Returns
    -------
    y_aug : np.ndarray [shape=(n,), dtype=float32]
    """
    from . import channel

    if step == "channel":
        step = CHANNEL_STEPS[int(rng.integers(len(CHANNEL_STEPS)))]
    if step == "pink":
        return channel.add_noise_at_snr(y, rng=rng, snr_db=rng.uniform(*config.snr_db), color="pink")
    if step == "reverb":
        return channel.reverberate(y, sr=sr, rt60=rng.uniform(*config.rt60), rng=rng)
    if step == "telephone":
        return channel.telephone(y, sr=sr)
    if step == "codec":
        codec = ("mp3", "opus")[int(rng.integers(2))]
        return channel.codec_round_trip(y, sr=sr, codec=codec, compression=rng.uniform(*config.codec_compression))
    if step == "tilt":
        return channel.spectral_tilt(y, sr=sr, db_per_octave=rng.uniform(*config.tilt_db_per_octave))
    if step == "gain":
        return channel.change_gain(y, db=rng.uniform(*config.gain_db))
    raise ParameterError(f"unknown channel step {step!r}; choose from {', '.join(CHANNEL_STEPS)} or channel")


def spec_augment(
    spectrogram: np.ndarray,
    *,
    rng: np.random.Generator,
    n_freq_masks: int = 2,
    freq_width: int = 15,
    n_time_masks: int = 2,
    time_width: int = 20,
    fill: float | None = None,
) -> np.ndarray:
    """SpecAugment frequency and time masks.

    Parameters
    ----------
    spectrogram : np.ndarray [shape=(n_freq, n_frames)]
    rng : np.random.Generator
    n_freq_masks, n_time_masks : int >= 0
        Number of masks of each kind.
    freq_width, time_width : int >= 0
        Maximum width of a mask (each width drawn from ``0 .. max``).
    fill : float or None
        Value of masked cells; ``None`` uses the spectrogram's mean.

    Returns
    -------
    masked : np.ndarray [shape=(n_freq, n_frames)]
        A copy; the input is unchanged.
    """
    out = np.array(spectrogram, copy=True)
    value = float(out.mean()) if fill is None else fill
    n_freq, n_frames = out.shape[-2:]
    for count, width, size, axis in ((n_freq_masks, freq_width, n_freq, -2), (n_time_masks, time_width, n_frames, -1)):
        for _ in range(count):
            w = int(rng.integers(0, min(width, size) + 1))
            start = int(rng.integers(0, size - w + 1))
            index = [slice(None)] * out.ndim
            index[axis] = slice(start, start + w)
            out[tuple(index)] = value
    return out


def _draw_away_from_one(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """A rate in ``bounds``; a draw within 2% of 1 (no audible change) is pushed out of that band."""
    rate = rng.uniform(*bounds)
    if abs(rate - 1.0) < 0.02:
        rate = 1.02 if rate >= 1.0 else 0.98
    return float(rate)


def _draw_away_from_zero(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """Semitones in ``bounds``, at least a quarter tone from zero."""
    steps = rng.uniform(*bounds)
    if abs(steps) < 0.5:
        steps = 0.5 if steps >= 0 else -0.5
    return float(steps)
