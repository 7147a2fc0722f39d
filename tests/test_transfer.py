"""The transfer-learning track: backbones, weights by path, tf.data augmentation, a short demo run."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ser_keras import ParameterError
from ser_keras.cli.main import main
from ser_keras.extraction.extract import FeatureSet

pytestmark = pytest.mark.slow  # trains Keras models end to end


def _trainable(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


@pytest.mark.parametrize(("builder", "published"), [("densenet161", 28_681_000), ("resnext50_32x4d", 25_028_904)])
def test_ported_backbones_have_the_published_parameter_counts(builder, published):
    from ser_keras.models import transfer

    model = getattr(transfer, builder)(include_top=True)  # torchvision counts weights and biases, not BN statistics
    assert _trainable(model) == published
    assert model.output_shape == (None, 1000)


def test_grouped_convolution_runs_and_trains_on_cpu():
    import keras

    from ser_keras.models.transfer import resnext50_32x4d

    grouped = resnext50_32x4d(input_shape=(32, 32, 3)).get_layer("conv2_block1_2_conv")
    assert grouped.groups == 32 and tuple(grouped.kernel.shape) == (3, 3, 4, 128)  # width 4 per group
    x = np.random.default_rng(0).normal(size=(1, 6, 6, 128)).astype("float32")
    y = keras.ops.convert_to_numpy(grouped(x))
    # group g sees only input channels 4g..4g+3 and writes only output channels 4g..4g+3
    kernel = keras.ops.convert_to_numpy(grouped.kernel)
    reference = np.zeros((1, 4, 4, 128), np.float32)
    for i in range(4):
        for j in range(4):
            patch = x[0, i : i + 3, j : j + 3]  # "valid": the block pads before this layer
            for g in range(32):
                channels = slice(4 * g, 4 * g + 4)
                reference[0, i, j, channels] = np.einsum("hwc,hwco->o", patch[..., channels], kernel[..., channels])
    assert y.shape == reference.shape
    np.testing.assert_allclose(y, reference, rtol=1e-4, atol=1e-4)
    # and a training step through the whole ResNeXt updates the grouped kernel
    from ser_keras.models.transfer import build_transfer

    model = build_transfer((32, 32), 3, backbone="resnext50_32x4d", normalization=(0.5, 0.1))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    before = keras.ops.convert_to_numpy(model.get_layer("backbone").get_layer("conv2_block1_2_conv").kernel).copy()
    model.train_on_batch(np.random.default_rng(1).normal(size=(4, 32, 32)).astype("float32"), np.array([0, 1, 2, 0]))
    after = keras.ops.convert_to_numpy(model.get_layer("backbone").get_layer("conv2_block1_2_conv").kernel)
    assert np.isfinite(after).all() and not np.array_equal(before, after)


def test_weights_round_trip_by_path_and_clear_refusals(tmp_path):
    import keras

    from ser_keras.models.transfer import build_transfer, make_backbone

    first = build_transfer((40, 48), 4, backbone="densenet121")
    path = tmp_path / "densenet121_backbone.weights.h5"
    first.get_layer("backbone").save_weights(path)
    second = build_transfer((40, 48), 4, backbone="densenet121", weights=str(path))
    for a, b in zip(first.get_layer("backbone").weights, second.get_layer("backbone").weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    fresh = build_transfer((40, 48), 4, backbone="densenet121")
    assert any(
        not np.array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
        for a, b in zip(first.get_layer("backbone").weights, fresh.get_layer("backbone").weights)
    )
    with pytest.raises(ParameterError, match="no ImageNet weights for densenet161.*--weights PATH"):
        make_backbone("densenet161", input_shape=(64, 64, 3), weights="imagenet")
    with pytest.raises(ParameterError, match="missing.weights.h5: weights file not found"):
        make_backbone("resnet50", input_shape=(64, 64, 3), weights=str(tmp_path / "missing.weights.h5"))
    with pytest.raises(ParameterError, match="cannot load as resnet50 backbone weights"):
        make_backbone("resnet50", input_shape=(64, 64, 3), weights=str(path))  # a DenseNet file


def test_augmentation_changes_train_batches_never_validation():
    from ser_keras.training.pipeline import SpecAugmentOptions, make_datasets

    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 32, 40)).astype("float32")
    y = np.arange(24) % 3
    X_val = rng.normal(size=(10, 32, 40)).astype("float32")
    y_val = np.arange(10) % 3
    options = SpecAugmentOptions(time_shift=0.2, freq_masks=2, freq_width=8, time_masks=2, time_width=8)
    plain_train, _ = make_datasets(X, y, X_val, y_val, batch_size=8, seed=3)
    train_ds, val_ds = make_datasets(X, y, X_val, y_val, batch_size=8, seed=3, augment=options)
    plain = np.concatenate([b[0].numpy() for b in plain_train])
    epoch1 = np.concatenate([b[0].numpy() for b in train_ds])
    epoch2 = np.concatenate([b[0].numpy() for b in train_ds])
    assert plain.shape == epoch1.shape and not np.allclose(plain, epoch1)
    assert not np.allclose(epoch1, epoch2)  # fresh draws every epoch
    changed = [not np.array_equal(a, b) for a, b in zip(plain, epoch1)]
    assert sum(changed) >= 20  # almost every example is shifted or masked
    # validation: exactly the input, in order
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in val_ds]), X_val)
    # the same seed gives the same augmented batches
    again, _ = make_datasets(X, y, X_val, y_val, batch_size=8, seed=3, augment=options)
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in again]), epoch1)


@pytest.fixture(scope="module")
def demo_mel(tmp_path_factory, demo_root):
    """A tiny mel feature set of the demo corpus: 32 mels x 32 frames (1 s at 16 kHz)."""
    cache = tmp_path_factory.mktemp("mel")
    args = [
        "extract",
        "--quiet",
        "--corpus",
        f"demo={demo_root}",
        "--cache-dir",
        str(cache),
        "--features",
        "mel",
        "--n-mels",
        "32",
        "--duration",
        "1.0",
        "--n-fft",
        "1024",
        "--augment",
        "none",
        "--jobs",
        "2",
    ]
    assert main(args) == 0
    return FeatureSet(next(cache.glob("mel-*")))


def test_two_phase_fine_tuning_on_the_demo_corpus_exports_a_savedmodel(demo_mel, tmp_path, capsys):
    import keras
    import tensorflow as tf

    from ser_keras.models.transfer import build_transfer
    from ser_keras.runs.folders import load_run

    # "pretrained" weights: a backbone file the test writes
    weights = tmp_path / "backbone.weights.h5"
    build_transfer(demo_mel.features.output_shape(), 6, backbone="resnet50").get_layer("backbone").save_weights(weights)
    args = [
        "train",
        "--quiet",
        "--features-dir",
        str(demo_mel.path),
        "--out",
        str(tmp_path / "runs"),
        "--model",
        "resnet50",  # a quarter of DenseNet121's layers: its SavedModel traces in a fraction of the time
        "--weights",
        str(weights),
        "--epochs",
        "2",
        "--freeze-epochs",
        "1",
        "--batch-size",
        "32",
    ]
    assert main(args) == 0
    run_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    history = pd.read_csv(run_dir / "history.csv")
    assert history["phase"].tolist() == ["frozen", "fine-tune"]
    np.testing.assert_allclose(history["learning_rate"], [0.01, 0.001], rtol=1e-6)  # SGD 0.01, then x0.1
    sidecar, model = load_run(run_dir)
    assert sidecar["options"]["optimizer"] == "sgd" and sidecar["train_augmentation"]["spec_augment"]["freq_masks"] == 2
    assert sidecar["mean_epoch_seconds"] > 0
    report = json.loads((run_dir / "report.json").read_text())
    assert report["n_test"] == np.asarray(report["confusion_matrix"]).sum() > 0
    # the exported SavedModel alone gives the Keras model's probabilities on raw log-mel arrays
    X_test, _ = demo_mel.arrays("test")
    X = np.asarray(X_test[:8])
    loaded = tf.saved_model.load(str(run_dir / "saved_model"))
    np.testing.assert_allclose(loaded.serve(tf.constant(X)).numpy(), model.predict(X, verbose=0), rtol=1e-4, atol=1e-5)
    # normalisation statistics come from the train split
    from ser_keras.models.transfer import image_normalization

    X_train, _ = demo_mel.arrays("train")
    mean, variance = image_normalization(np.asarray(X_train))
    norm = model.get_layer("normalize")
    np.testing.assert_allclose(float(np.ravel(keras.ops.convert_to_numpy(norm.mean))[0]), mean, rtol=1e-5)


def test_transfer_models_need_mel_features(demo_stats, tmp_path, capsys):
    code = main(
        ["train", "--quiet", "--features-dir", str(demo_stats.path), "--out", str(tmp_path), "--model", "resnet50"]
    )
    assert code == 2 and "extract with --features mel" in capsys.readouterr().err
