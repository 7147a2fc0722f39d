import numpy as np
import pytest

from ser_keras import ParameterError
from ser_keras.signal.augment import (
    AugmentConfig,
    add_noise,
    apply_recipe,
    change_speed,
    parse_recipes,
    pitch_shift,
    spec_augment,
    stretch_and_shift,
    time_shift,
    time_stretch,
)

from conftest import tone

SR = 16000


def _dominant_freq(y):
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    return np.argmax(spectrum) * SR / y.size


def test_parse_recipes():
    assert parse_recipes("noise, stretch+pitch") == (("noise",), ("stretch", "pitch"))
    assert parse_recipes("") == () and parse_recipes(None) == ()
    with pytest.raises(ParameterError, match="unknown augmentation 'echo'"):
        parse_recipes("noise,echo")
    with pytest.raises(ParameterError, match="given twice"):
        parse_recipes("noise,noise")


def test_noise_hits_the_requested_snr():
    y = tone(sr=SR, seconds=2.0)
    noisy = add_noise(y, rng=np.random.default_rng(0), snr_db=10.0)
    snr = 10 * np.log10(np.mean(y**2) / np.mean((noisy - y) ** 2))
    assert abs(snr - 10.0) < 0.3 and noisy.dtype == np.float32


def test_stretch_speed_pitch_shift_do_what_they_say():
    y = tone(sr=SR, seconds=2.0, freq=200.0)
    slow = time_stretch(y, rate=0.8)
    assert abs(slow.size - y.size / 0.8) < 600 and abs(_dominant_freq(slow) - 200) < 5  # longer, same pitch
    fast = change_speed(y, rate=1.25)
    assert abs(fast.size - y.size / 1.25) < 10 and abs(_dominant_freq(fast) - 250) < 5  # shorter and higher
    up = pitch_shift(y, sr=SR, semitones=12.0)
    assert up.size == y.size and abs(_dominant_freq(up) - 400) < 8  # same length, an octave up
    rolled = time_shift(y, shift=100)
    np.testing.assert_array_equal(rolled[100:], y[:-100])


def test_stretch_and_pitch_fused_equal_the_two_steps_in_length_and_pitch():
    """One phase vocoder + one resample for ``stretch+pitch`` (either order): the two steps' length and pitch."""
    y = tone(sr=SR, seconds=2.0, freq=200.0)
    fused = stretch_and_shift(y, sr=SR, rate=0.8, semitones=12.0)
    in_turn = pitch_shift(time_stretch(y, rate=0.8), sr=SR, semitones=12.0)
    assert fused.size == in_turn.size == round(y.size / 0.8) and fused.dtype == np.float32
    assert abs(_dominant_freq(fused) - 400) < 8 and abs(_dominant_freq(in_turn) - 400) < 8
    config = AugmentConfig(stretch_rate=(0.8, 0.8), pitch_semitones=(12.0, 12.0))  # fixed draws: both orders agree
    for recipe in (("stretch", "pitch"), ("pitch", "stretch")):
        out = apply_recipe(y, recipe, sr=SR, rng=np.random.default_rng(0), config=config)
        np.testing.assert_allclose(out, fused, atol=1e-6)
    # a step between them keeps them apart: the pitch step alone then keeps its input's length
    apart = apply_recipe(y, ("stretch", "noise", "pitch"), sr=SR, rng=np.random.default_rng(0), config=config)
    assert apart.size == round(y.size / 0.8)


def test_a_changed_augmentation_algorithm_never_hits_an_old_cache(monkeypatch):
    import pandas as pd

    from ser_keras.extraction import extract
    from ser_keras.features.config import FeatureConfig

    manifest = pd.DataFrame(
        {"path": ["missing.wav"], "emotion": ["angry"], "speaker": ["1"], "gender": ["male"], "split": ["train"]}
    )
    augment, features = AugmentConfig(recipes=parse_recipes("stretch+pitch")), FeatureConfig.for_kind("stats")
    plain = AugmentConfig(recipes=())
    before = [extract.fingerprint(manifest, features=features, augment=a, split={}, seed=0) for a in (augment, plain)]
    monkeypatch.setattr(extract, "AUGMENT_ALGORITHM_VERSION", extract.AUGMENT_ALGORITHM_VERSION + 1)
    after = [extract.fingerprint(manifest, features=features, augment=a, split={}, seed=0) for a in (augment, plain)]
    assert after[0] != before[0]
    assert after[1] == before[1]  # without augmentation the algorithms do not matter: the cache stays valid


def test_recipes_are_deterministic_given_the_rng():
    y = tone(sr=SR, seconds=1.0, rng=np.random.default_rng(3))
    config = AugmentConfig(recipes=parse_recipes("noise,stretch+pitch,speed,shift"))
    for recipe in config.recipes:
        a = apply_recipe(y, recipe, sr=SR, rng=np.random.default_rng([7, 1]), config=config)
        b = apply_recipe(y, recipe, sr=SR, rng=np.random.default_rng([7, 1]), config=config)
        c = apply_recipe(y, recipe, sr=SR, rng=np.random.default_rng([7, 2]), config=config)
        np.testing.assert_array_equal(a, b)
        assert a.shape != c.shape or not np.array_equal(a, c)
        assert not (a.shape == y.shape and np.allclose(a, y))


def test_spec_augment_masks_bands_without_touching_input():
    S = np.arange(128 * 100, dtype=np.float32).reshape(128, 100)
    out = spec_augment(
        S, rng=np.random.default_rng(0), n_freq_masks=1, freq_width=10, n_time_masks=1, time_width=10, fill=-1.0
    )
    assert S.min() == 0  # input untouched
    masked = out == -1.0
    rows, cols = np.flatnonzero(masked.all(axis=1)), np.flatnonzero(masked.all(axis=0))
    assert 0 < rows.size <= 10 or 0 < cols.size <= 10
    again = spec_augment(
        S, rng=np.random.default_rng(0), n_freq_masks=1, freq_width=10, n_time_masks=1, time_width=10, fill=-1.0
    )
    np.testing.assert_array_equal(out, again)
