"""What carries no emotion leaves the utterance features as they were: gain, DC, silence around a clip, and the
difference between digital silence and a quiet noise floor (`ser_keras.features.level`, the sample trim)."""

from __future__ import annotations

import numpy as np
import pytest

from ser_keras.features.config import FeatureConfig
from ser_keras.features.registry import compute


def _voice(sr: int, seconds: float, *, rng: np.random.Generator) -> np.ndarray:
    """A gliding vowel-like tone with pauses of digital silence, as a gated studio recording has."""
    t = np.arange(int(seconds * sr)) / sr
    f0 = 140.0 + 40.0 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = sum(np.sin(k * phase) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 1.3 * t) ** 2)
    y = 0.05 * y + 0.002 * rng.normal(size=t.size)
    y[(t > 0.6) & (t < 0.8)] = 0.0  # a gated pause
    quiet = np.zeros(int(0.1 * sr))  # a recording starts and ends before and after the voice
    return np.concatenate([quiet, y, quiet]).astype(np.float32)


@pytest.fixture(scope="module")
def config():
    return FeatureConfig.for_kind("functionals")


@pytest.fixture(scope="module")
def clips(config):
    rng = np.random.default_rng(3)
    return [_voice(config.sr, s, rng=rng) for s in (1.3, 1.7, 2.1)]


def _moved(config, clips, change) -> np.ndarray:
    """The largest change of each column, as a share of the column's range over the clips."""
    X = compute(clips, config=config)
    Z = compute([change(y).astype(np.float32) for y in clips], config=config)
    span = np.maximum(X.max(axis=0) - X.min(axis=0), 1e-3)
    return (np.abs(Z - X) / span).max(axis=0)


@pytest.mark.parametrize("gain_db", [-12.0, -6.0, 6.0])
def test_gain_leaves_the_features_as_they_were(config, clips, gain_db):
    assert _moved(config, clips, lambda y: y * np.float32(10 ** (gain_db / 20))).max() < 1e-3  # float32 rounding


def test_a_dc_offset_leaves_the_features_as_they_were(config, clips):
    assert _moved(config, clips, lambda y: y + np.float32(0.01)).max() < 1e-3


@pytest.mark.parametrize("samples", [1, 4000, 8000, 12345])
def test_silence_before_and_after_leaves_the_features_as_they_were(config, clips, samples):
    """Any length, on or off the hop grid: the sound is found by its samples, not by frames."""
    pad = np.zeros(samples, np.float32)
    assert _moved(config, clips, lambda y: np.concatenate([pad, y, pad])).max() < 1e-3  # the mean's rounding


def test_the_floor_makes_digital_silence_and_a_quiet_noise_floor_alike(config, clips, monkeypatch):
    """Noise 10 dB under the added floor fills the gated pause, which digital silence left at -100 dB: with the
    floor the columns move several times less than without it."""
    from ser_keras.features import level

    below_peak = level.DITHER_DB - 20.0  # the peak stands about 10 dB above the loudest frame's RMS

    def noisy(y):
        rng = np.random.default_rng(len(y))
        return y + np.max(np.abs(y)) * 10 ** (below_peak / 20) * rng.normal(size=y.size)

    with_floor = np.median(_moved(config, clips, noisy))
    monkeypatch.setattr(level, "DITHER_DB", -400.0)
    level.floor_sequence.cache_clear()
    try:
        without_floor = np.median(_moved(config, clips, noisy))
    finally:
        monkeypatch.undo()
        level.floor_sequence.cache_clear()
    assert with_floor * 5 < without_floor, (with_floor, without_floor)


def test_the_floor_is_one_fixed_sequence_and_its_graph_form_tiles_it():
    import tensorflow as tf

    from ser_keras.features.level import DITHER_LENGTH, add_floor, add_floor_graph, floor_sequence

    first = floor_sequence()
    assert first is floor_sequence() and not first.flags.writeable and first.shape == (DITHER_LENGTH,)
    for n in (10, DITHER_LENGTH, 3 * DITHER_LENGTH + 17):
        y = np.linspace(-0.1, 0.1, n, dtype=np.float32)
        floored = add_floor(y)
        np.testing.assert_array_equal(add_floor_graph(tf.constant(y)).numpy(), floored)
        np.testing.assert_allclose(floored - y, np.resize(first, n), atol=1e-7)


def test_the_graph_draws_the_same_sound_bounds_to_the_sample(config):
    """The trim compares samples with a product of the peak: bit-equal in float32 on any runtime."""
    import tensorflow as tf

    from ser_keras.features import functionals, utterance_graph

    rng = np.random.default_rng(7)
    for _ in range(20):
        y = _voice(config.sr, rng.uniform(0.5, 1.5), rng=rng)
        y = np.concatenate(
            [np.zeros(rng.integers(0, 3000), np.float32), y, 1e-4 * rng.normal(size=500).astype(np.float32)]
        )
        want = functionals.trim(y, config=config)
        got = utterance_graph.trim(tf.constant(y), config).numpy()
        np.testing.assert_array_equal(got, want)
