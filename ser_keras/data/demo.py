"""The embedded demo corpus: synthetic, speech-like audio with acted-emotion prosody.

THE DEMO CORPUS IS SYNTHETIC.  It exists so that every stage of ser-keras runs end to
end on a fresh machine without a licensed data set; figures measured on it say
nothing about real speech.

Each utterance is a source-filter synthesis: a glottal pulse train (with jitter and
shimmer) shaped by a two-pole spectral-tilt filter, plus aspiration noise, passed
through four formant resonators per syllable, with short fricative bursts between
syllables.  Two "sentences" of seven vowels stand in for RAVDESS's two statements.
Emotions move the parameters the way acted speech does (Scherer 2003; Juslin &
Laukka 2003): F0 level and range, tempo, energy, jitter/shimmer, spectral tilt and
breathiness, plus F0 tremor for fear.  Speakers differ in F0, vocal-tract length,
voice quality and expressiveness, and every utterance gets its own random
variation, so a speaker-independent model can beat chance clearly but not
trivially.

Files are named like RAVDESS (``03-01-EE-II-SS-RR-AA.wav``, odd actors male) and
parsed with the RAVDESS parser as corpus ``demo``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Bump when the synthesis changes: a different version means different audio.
DEMO_VERSION = "1"
DEMO_SR = 16000
DEMO_SEED = 20260
N_SPEAKERS = 8
#: Demo emotions and their RAVDESS codes.
DEMO_EMOTIONS = {"neutral": "01", "happy": "03", "sad": "04", "angry": "05", "fear": "06", "disgust": "07"}

# Peterson & Barney (1952) adult male F1-F3 in Hz; F4 fixed at 3500 Hz.
_VOWELS = {
    "I": (390, 1990, 2550),
    "a": (730, 1090, 2440),
    "o": (570, 840, 2410),
    "u": (440, 1020, 2240),
    "V": (640, 1190, 2390),
    "e": (530, 1840, 2480),
}
# "Kids are talking by the door" / "Dogs are sitting by the door": vowel and stress per syllable.
_STATEMENTS = {
    "01": ("IaoIaVo", (1, 0, 1, 0, 1, 0, 1)),
    "02": ("oaIIaVo", (1, 0, 1, 0, 1, 0, 1)),
}
_BANDWIDTHS = (80.0, 100.0, 140.0, 200.0)


@dataclass(frozen=True)
class Voice:
    """Prosodic and voice-quality parameters of one utterance."""

    f0: float  # mean F0, Hz
    f0_range: float  # accent excursion, semitones
    tempo: float  # syllable rate multiplier
    gain_db: float  # level relative to neutral
    jitter: float  # relative period perturbation
    shimmer: float  # relative pulse amplitude perturbation
    tilt: float  # pole radius of the glottal low-pass (higher = darker)
    breath: float  # aspiration noise relative to voicing
    formant_scale: float  # vocal-tract scaling (female ~1.16)
    tremor: float  # F0 tremor depth, semitones


# Acted-emotion targets relative to neutral, at strong intensity.
_EMOTION_TARGETS = {
    "neutral": dict(
        f0=1.00,
        f0_range=1.0,
        tempo=1.00,
        gain_db=0.0,
        jitter=0.004,
        shimmer=0.03,
        tilt=0.90,
        breath=0.04,
        formant=1.00,
        tremor=0.0,
    ),
    "happy": dict(
        f0=1.22,
        f0_range=1.8,
        tempo=1.08,
        gain_db=4.0,
        jitter=0.006,
        shimmer=0.04,
        tilt=0.86,
        breath=0.04,
        formant=1.05,
        tremor=0.0,
    ),
    "sad": dict(
        f0=0.92,
        f0_range=0.5,
        tempo=0.78,
        gain_db=-6.0,
        jitter=0.010,
        shimmer=0.06,
        tilt=0.94,
        breath=0.12,
        formant=0.97,
        tremor=0.0,
    ),
    "angry": dict(
        f0=1.16,
        f0_range=1.3,
        tempo=1.12,
        gain_db=8.0,
        jitter=0.008,
        shimmer=0.05,
        tilt=0.78,
        breath=0.03,
        formant=1.08,
        tremor=0.0,
    ),
    "fear": dict(
        f0=1.32,
        f0_range=1.1,
        tempo=1.20,
        gain_db=1.0,
        jitter=0.018,
        shimmer=0.08,
        tilt=0.88,
        breath=0.10,
        formant=1.02,
        tremor=0.6,
    ),
    "disgust": dict(
        f0=0.94,
        f0_range=0.9,
        tempo=0.86,
        gain_db=1.0,
        jitter=0.014,
        shimmer=0.07,
        tilt=0.92,
        breath=0.08,
        formant=0.98,
        tremor=0.0,
    ),
}


def speaker_traits(actor: int, *, seed: int = DEMO_SEED) -> dict[str, float]:
    """Fixed traits of demo speaker ``actor`` (1-based; odd = male, even = female)."""
    rng = np.random.default_rng([seed, actor])
    male = actor % 2 == 1
    return {
        "f0": rng.uniform(95, 135) if male else rng.uniform(175, 235),
        "formant_scale": (1.0 if male else 1.16) * rng.uniform(0.95, 1.05),
        "tilt": rng.uniform(-0.03, 0.03),
        "breath": rng.uniform(0.0, 0.04),
        "tempo": rng.uniform(0.9, 1.1),
        "expressiveness": rng.uniform(0.7, 1.15),
    }


def utterance_voice(emotion: str, *, strong: bool, traits: dict[str, float], rng: np.random.Generator) -> Voice:
    """Combine the emotion target, its intensity, the speaker's traits and random variation."""
    neutral, target = _EMOTION_TARGETS["neutral"], _EMOTION_TARGETS[emotion]
    k = (1.0 if strong else 0.6) * traits["expressiveness"]

    def blend(key: str) -> float:
        return neutral[key] + k * (target[key] - neutral[key])

    jiggle = lambda sd: float(np.exp(rng.normal(0.0, sd)))  # noqa: E731
    return Voice(
        f0=traits["f0"] * blend("f0") * jiggle(0.05),
        f0_range=blend("f0_range") * jiggle(0.15),
        tempo=traits["tempo"] * blend("tempo") * jiggle(0.06),
        gain_db=blend("gain_db") + rng.normal(0.0, 2.0),
        jitter=blend("jitter") * jiggle(0.2),
        shimmer=blend("shimmer") * jiggle(0.2),
        tilt=float(np.clip(blend("tilt") + traits["tilt"] + rng.normal(0.0, 0.015), 0.6, 0.97)),
        breath=blend("breath") + traits["breath"],
        formant_scale=traits["formant_scale"] * blend("formant"),
        tremor=blend("tremor"),
    )


def synthesize(voice: Voice, statement: str, *, rng: np.random.Generator, sr: int = DEMO_SR) -> np.ndarray:
    """Synthesize one utterance.

    Parameters
    ----------
    voice : Voice
    statement : {'01', '02'}
    rng : np.random.Generator
        Source of every random draw.
    sr : int

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]
        About 3.3-4 s: leading silence (~0.5 s), the sentence, trailing silence.
    """
    from scipy.signal import lfilter

    vowels, stresses = _STATEMENTS[statement]
    lead = int(sr * rng.uniform(0.45, 0.6))
    syll_len = [int(sr * 0.26 * (1.3 if s else 0.85) * rng.uniform(0.85, 1.15) / voice.tempo) for s in stresses]
    gap_len = [int(sr * rng.uniform(0.03, 0.07) / voice.tempo) for _ in vowels]
    speech = sum(syll_len) + sum(gap_len)
    total = max(lead + speech + int(0.4 * sr), int(3.3 * sr))
    out = np.zeros(total, dtype=np.float64)

    # F0 contour over the whole sentence: declination, accents on stressed syllables, tremor, jitter.
    t = np.arange(speech) / sr
    semitones = np.linspace(1.5, -2.0, speech) * max(voice.f0_range, 0.3)
    pos = 0
    for length, gap, stress in zip(syll_len, gap_len, stresses):
        if stress:
            bump = np.sin(np.linspace(0, np.pi, length)) * 2.5 * voice.f0_range * rng.uniform(0.7, 1.3)
            semitones[pos : pos + length] += bump
        pos += length + gap
    semitones += voice.tremor * np.sin(2 * np.pi * rng.uniform(5, 7) * t)
    f0 = voice.f0 * 2.0 ** (semitones / 12.0)
    phase = np.cumsum(f0 / sr)
    cycles = np.floor(phase).astype(np.int64)
    pulse_at = np.flatnonzero(np.diff(cycles, prepend=cycles[0]))
    # Jitter moves each pulse by a fraction of its period; shimmer scales its amplitude.
    period = sr / f0[pulse_at]
    pulse_at = np.clip(pulse_at + np.round(rng.normal(0, voice.jitter, pulse_at.size) * period), 0, speech - 1)
    source = np.zeros(speech)
    np.add.at(source, pulse_at.astype(np.int64), 1.0 + rng.normal(0, voice.shimmer, pulse_at.size))
    # Glottal low-pass (two poles: -12 dB/oct) then lip radiation (+6 dB/oct).
    r = voice.tilt
    source = np.diff(lfilter([1.0 - r], [1.0, -r], lfilter([1.0 - r], [1.0, -r], source)), prepend=0.0)
    source /= np.max(np.abs(source)) + 1e-12
    aspiration = rng.normal(0, 1, speech) * voice.breath

    pos = 0
    for vowel, length, gap, stress in zip(vowels, syll_len, gap_len, stresses):
        envelope = np.sin(np.linspace(0, np.pi, length)) ** 0.6 * (1.0 if stress else 0.7) * rng.uniform(0.85, 1.15)
        excitation = (source[pos : pos + length] + aspiration[pos : pos + length]) * envelope
        formants = [f * voice.formant_scale * rng.uniform(0.97, 1.03) for f in _VOWELS[vowel]] + [
            3500.0 * voice.formant_scale
        ]
        segment = _formant_filter(excitation, formants, sr=sr, lfilter=lfilter)
        out[lead + pos : lead + pos + length] += segment
        if gap > 0:  # fricative: high-passed noise burst
            burst = np.diff(rng.normal(0, 1, gap + 1)) * np.hanning(gap) * 0.02
            out[lead + pos + length : lead + pos + length + gap] += burst
        pos += length + gap

    out *= 0.12 * 10.0 ** (voice.gain_db / 20.0) / (np.max(np.abs(out)) + 1e-12)
    out += rng.normal(0, 2e-4, total)  # recording noise floor
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def _formant_filter(x: np.ndarray, formants: list[float], *, sr: int, lfilter) -> np.ndarray:
    for freq, bandwidth in zip(formants, _BANDWIDTHS):
        radius = np.exp(-np.pi * bandwidth / sr)
        cos_theta = np.cos(2 * np.pi * min(freq, 0.45 * sr) / sr)
        a = [1.0, -2 * radius * cos_theta, radius**2]
        x = lfilter([sum(a)], a, x)  # unity gain at DC
    return x


def demo_file_plan() -> list[tuple[int, str, str, str, str]]:
    """Every demo utterance as ``(actor, emotion, intensity, statement, repetition)``; codes as RAVDESS."""
    plan = []
    for actor in range(1, N_SPEAKERS + 1):
        for emotion in DEMO_EMOTIONS:
            for intensity in ("01",) if emotion == "neutral" else ("01", "02"):
                for statement in _STATEMENTS:
                    for repetition in ("01", "02"):
                        plan.append((actor, emotion, intensity, statement, repetition))
    return plan


#: About what the generated corpus takes on disk (352 files of 16-bit audio at 16 kHz, 34 MB), with margin.
DEMO_BYTES = 40_000_000


def generate_demo_corpus(root: str | os.PathLike, *, seed: int = DEMO_SEED) -> Path:
    """Write the demo corpus (352 wav files, 16 kHz, 16-bit) into ``root``, which must not exist."""
    import soundfile as sf

    root = Path(root)
    traits = {actor: speaker_traits(actor, seed=seed) for actor in range(1, N_SPEAKERS + 1)}
    emotion_index = {name: i for i, name in enumerate(DEMO_EMOTIONS)}
    for actor, emotion, intensity, statement, repetition in demo_file_plan():
        rng = np.random.default_rng(
            [seed, actor, emotion_index[emotion], int(intensity), int(statement), int(repetition)]
        )
        voice = utterance_voice(emotion, strong=intensity == "02", traits=traits[actor], rng=rng)
        y = synthesize(voice, statement, rng=rng)
        folder = root / f"Actor_{actor:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"03-01-{DEMO_EMOTIONS[emotion]}-{intensity}-{statement}-{repetition}-{actor:02d}.wav"
        sf.write(folder / name, y, DEMO_SR, subtype="PCM_16")
    (root / "README.txt").write_text(
        "SYNTHETIC demo corpus generated by ser-keras (ser_keras/data/demo.py). Not real speech.\n"
        f"version {DEMO_VERSION}, seed {seed}, {DEMO_SR} Hz, RAVDESS-style names.\n"
    )
    (root / ".complete").write_text(DEMO_VERSION)
    return root


def ensure_demo_corpus(root: str | os.PathLike) -> Path:
    """Return ``root`` holding the current demo corpus, generating it there on first use.

    Generation goes to a temporary sibling folder renamed into place, so an
    interrupted or concurrent run never leaves a half-written corpus behind.  Only a
    folder this module made (its ``.complete`` marker names a demo version) is ever
    replaced; an empty folder is filled; any other existing folder is refused, never deleted.

    Raises
    ------
    ParameterError
        ``root`` is a file, or a non-empty folder that is not a demo corpus.
    """
    from ..errors import ParameterError

    root = Path(root)
    marker = root / ".complete"
    if marker.is_file() and marker.read_text() == DEMO_VERSION:
        return root
    if root.exists() and not root.is_dir():
        raise ParameterError(f"{root}: not a folder; the demo corpus needs a folder of its own")
    if root.is_dir() and not marker.is_file() and any(root.iterdir()):
        raise ParameterError(
            f"{root}: folder is not empty and is not a ser-keras demo corpus; refusing to write into it "
            "(give demo=DIR an empty or new folder)"
        )
    from ..files import check_free_space, disk_full, is_disk_full

    root.parent.mkdir(parents=True, exist_ok=True)
    check_free_space(root.parent, DEMO_BYTES, writing=root)
    staging = root.parent / f".{root.name}.{uuid.uuid4().hex}.tmp"
    try:
        generate_demo_corpus(staging)
    except BaseException as exc:  # interrupted, or the disk filled up meanwhile: leave nothing behind
        shutil.rmtree(staging, ignore_errors=True)
        if is_disk_full(exc) or "System error" in str(exc):  # libsndfile reports ENOSPC as a "System error"
            free = shutil.disk_usage(root.parent).free
            if free < DEMO_BYTES or is_disk_full(exc):
                raise disk_full(root) from None
        raise
    if root.exists():  # our own older version, an empty folder, or a corpus another process just finished
        if marker.is_file() and marker.read_text() == DEMO_VERSION:
            shutil.rmtree(staging)
            return root
        if marker.is_file():
            shutil.rmtree(root)  # a demo corpus of another version: ours to replace
        else:
            root.rmdir()  # empty (checked above); fails rather than delete anything that appeared since
    try:
        os.replace(staging, root)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not (marker.is_file() and marker.read_text() == DEMO_VERSION):
            raise
    return root
