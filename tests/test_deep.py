"""The frame-level family: the lld and fusion kinds, tdnn / attention_lstm, their training recipe, fusion."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ser_keras.features.registry import FeatureConfig, compute
from ser_keras.training.options import TrainOptions


def _voice(sr: int = 16000, seconds: float = 1.0, f0: float = 150.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.1 * np.sin(2 * np.pi * 3 * t))) / sr
    y = sum(0.3 / k * np.sin(k * phase) for k in range(1, 8)) + rng.normal(0, 0.003, t.size)
    silence = np.zeros(int(0.25 * sr))
    return np.concatenate([silence, y, silence]).astype(np.float32)


# --- the lld and fusion kinds ------------------------------------------------------------------


def test_fit_frames_wraps_short_and_keeps_the_middle_of_long_sequences():
    from ser_keras.features.lld import fit_frames

    rows = np.arange(10)[:, None] * np.ones((1, 3))
    np.testing.assert_array_equal(fit_frames(rows, 25)[:, 0], np.arange(25) % 10)
    np.testing.assert_array_equal(fit_frames(rows, 4)[:, 0], [3, 4, 5, 6])
    assert fit_frames(rows, 10) is not None and fit_frames(rows, 10).shape == (10, 3)


def test_lld_rows_are_the_functionals_descriptors_plus_pitch_and_voicing():
    from ser_keras.features.functionals import trimmed_descriptors

    config = FeatureConfig.for_kind("lld", sequence_frames=500)
    y = _voice()
    x = compute([y], config=config)[0]
    assert x.shape == config.output_shape() == (500, 170) and len(config.feature_names()) == 170
    _, lld, f0, voiced = trimmed_descriptors(y, config=config, what="lld")
    n = lld.shape[1]
    np.testing.assert_allclose(x[:n, : lld.shape[0]], lld.T, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(x[:n, -2], 12 * np.log2(f0 / 100), rtol=1e-5)
    np.testing.assert_array_equal(x[:n, -1], voiced)
    np.testing.assert_array_equal(x[n : 2 * n], x[:n])  # a short utterance repeats end to end


def test_a_fusion_example_is_the_functionals_then_the_lld_frames():
    from ser_keras.features.fusion_kind import fusion_blocks

    config = FeatureConfig.for_kind("fusion", sequence_frames=40)
    utterance, frames, n_utterance = fusion_blocks(config)
    y = _voice(seed=1)
    x = compute([y], config=config)[0]
    assert x.shape == config.output_shape() == (n_utterance + 40 * 170,)
    np.testing.assert_array_equal(x[:n_utterance], compute([y], config=utterance)[0])
    np.testing.assert_array_equal(x[n_utterance:].reshape(40, 170), compute([y], config=frames)[0])


# --- layers and the training recipe ------------------------------------------------------------


def test_frame_masks_zero_bands_in_training_and_are_the_identity_at_inference():
    from ser_keras.models.layers import FrameMasks

    x = np.ones((4, 50, 30), dtype=np.float32)
    layer = FrameMasks(time_masks=2, time_width=10, feature_masks=1, feature_width=5, seed=3)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    masked = np.asarray(layer(x, training=True))
    assert masked.shape == x.shape and set(np.unique(masked)) <= {0.0, 1.0}
    zero_frames = (masked == 0).all(axis=2).sum(axis=1)  # whole frames masked, per example
    assert (zero_frames <= 20).all() and masked.mean() < 1.0  # at most two bands of 10 frames
    assert not np.array_equal(masked, np.asarray(layer(x, training=True)))  # new draws each step


def test_attentive_statistics_pooling_of_constant_frames_is_their_value_and_zero_spread():
    from ser_keras.models.layers import AttentiveStatisticsPooling

    frames = np.tile(np.array([1.0, -2.0, 3.0], dtype=np.float32), (2, 7, 1))
    pooled = np.asarray(AttentiveStatisticsPooling(hidden=4)(frames))
    assert pooled.shape == (2, 6)
    np.testing.assert_allclose(pooled[:, :3], frames[:, 0], rtol=1e-5)
    np.testing.assert_allclose(pooled[:, 3:], 1e-3, atol=2e-3)  # sqrt of the 1e-6 floor


def test_mixup_makes_convex_pairs_of_examples_and_labels():
    import tensorflow as tf

    from ser_keras.training.pipeline import mix_batch

    x = np.arange(8, dtype=np.float32)[:, None, None] * np.ones((8, 3, 2), dtype=np.float32)
    y = np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 0, 1, 2, 3]]
    mixed_x, mixed_y = (v.numpy() for v in mix_batch(x, y, tf.constant([1, 2], tf.int64), alpha=0.4))
    np.testing.assert_allclose(mixed_y.sum(axis=1), 1.0, rtol=1e-6)
    assert (mixed_x >= 0).all() and (mixed_x <= 7).all() and not np.array_equal(mixed_x, x)
    again, _ = mix_batch(x, y, tf.constant([1, 2], tf.int64), alpha=0.4)
    np.testing.assert_array_equal(again.numpy(), mixed_x)  # seeded


def test_family_defaults_of_the_frame_networks_and_of_backbones_from_scratch():
    frame = TrainOptions().resolve("tdnn")
    assert (frame.optimizer, frame.lr, frame.schedule, frame.select, frame.label_smoothing) == (
        "adamw",
        2e-3,
        "cosine",
        "last",
        0.1,
    )
    assert frame.spec_augment and frame.weight_decay == 0.01
    seed = TrainOptions().resolve("conv1d")
    assert (seed.optimizer, seed.schedule, seed.select, seed.label_smoothing) == ("adam", "plateau", "val_loss", 0.0)
    assert (TrainOptions(weights="none").resolve("resnet50").optimizer, TrainOptions().resolve("resnet50").lr) == (
        "adam",
        1e-3,
    )
    assert TrainOptions(weights="imagenet").resolve("resnet50").optimizer == "sgd"


def test_backbones_from_scratch_get_batchnorm_momentum_point_nine():
    import keras

    from ser_keras.models.transfer import build_transfer

    def momenta(model):
        backbone = model.get_layer("backbone")
        return {layer.momentum for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)}

    assert momenta(build_transfer((32, 40), 4, backbone="resnet50", weights="none")) == {0.9}


# --- end to end on the demo corpus -------------------------------------------------------------


@pytest.mark.slow
def test_a_fusion_run_is_one_model_averaging_its_two_parts_and_exports(fusion_run):
    """The shared fusion run (`conftest.fusion_run`: ``train`` of the default recipe, 3 epochs, then ``export``)."""
    import keras

    from ser_keras.extraction.extract import FeatureSet
    from ser_keras.runs.folders import load_run

    sidecar, model = load_run(fusion_run)
    assert sidecar["model"] == "fusion" and sidecar["fusion"]["frame_weight"] == 0.5
    assert sidecar["options"]["schedule"] == "cosine"
    features = FeatureSet(sidecar["feature_set"])
    X, _ = features.arrays("test")
    X = np.asarray(X[:6])
    utterance, frames = model.get_layer("utterance_model"), model.get_layer("frame_model")
    n = utterance.input_shape[-1]
    parts = 0.5 * utterance.predict(X[:, :n], verbose=0) + 0.5 * frames.predict(X[:, n:].reshape(6, 64, 170), verbose=0)
    np.testing.assert_allclose(model.predict(X, verbose=0), parts, atol=1e-6)
    assert isinstance(frames.get_layer("frame_masks"), keras.layers.Layer)
    # cosine schedule run to its end, the last epoch kept
    history = pd.read_csv(fusion_run / "history.csv")
    assert history["learning_rate"].iloc[-1] < history["learning_rate"].max() and sidecar["best_epoch"] == 3
    # nothing was chosen on the validation speakers, so they trained too, and no val_loss pretends otherwise
    assert sidecar["fitted_on"].startswith("train + val") and "val_loss" not in history
    assert (fusion_run / "model.tflite").is_file() and (fusion_run / "waveform.tflite").is_file()
    report = json.loads((fusion_run / "report.json").read_text())
    assert 0 <= report["unweighted_accuracy"] <= 1 and report["n_test"] == len(features.arrays("test")[1])
