"""Every Keras model can learn: it fits 64 demo clips to >= 0.9 accuracy in inference mode.

The first check a deep-learning engineer runs.  Accuracy is measured with the model in
inference mode (``predict``), so a BatchNorm whose moving statistics lag its batch
statistics fails it, as an input-scaling or optimiser fault does.  Of the transfer backbones,
DenseNet121 (the ``transfer-scratch`` recipe's) is fitted here from random weights on the 32 x 32
demo images; the others (up to 28 million parameters, minutes each on two CPU cores) are checked by
``bench/fit_small.py`` (figures in README) and covered here by the BatchNorm momentum they get from
scratch (`tests/test_deep.py`).
"""

from __future__ import annotations

import numpy as np
import pytest

from ser_keras.cli.main import main
from ser_keras.extraction.extract import FeatureSet
from ser_keras.models import MODELS

#: Training clips, most epochs, and the accuracy each model must reach on them.
N_CLIPS, MAX_EPOCHS, TARGET = 64, 60, 0.9
#: Feature kind (and its options) each layout is fitted on.
KIND_OF_LAYOUT = {
    "vector": ["--features", "stats"],
    "sequence": ["--features", "lld", "--sequence-frames", "64"],
    "image": ["--features", "mel", "--n-mels", "32", "--duration", "1.0", "--n-fft", "1024"],
}
#: Every Keras model with a builder but the transfer backbones (``fusion`` joins two fitted models:
#: its parts are tested here).
KERAS_MODELS = [
    name for name, spec in MODELS.items() if spec.is_keras and spec.build is not None and not spec.is_transfer
]
#: The transfer backbone fitted here, at the demo images' own 32 x 32 size.
TRANSFER_BACKBONE = "densenet121"


@pytest.fixture(scope="module")
def small_sets(tmp_path_factory, demo_root) -> dict[str, tuple[np.ndarray, np.ndarray, FeatureSet]]:
    """64 training clips of the demo corpus for each layout (no augmentation)."""
    cache = tmp_path_factory.mktemp("fit-small")
    sets = {}
    for layout, options in KIND_OF_LAYOUT.items():
        args = ["extract", "--quiet", "--corpus", f"demo={demo_root}", "--cache-dir", str(cache), *options]
        assert main([*args, "--augment", "none", "--jobs", "2"]) == 0
        fs = FeatureSet(sorted(cache.glob(f"{options[1]}-*"))[0])
        X, y = fs.arrays("train")
        pick = np.random.default_rng(0).permutation(len(y))[:N_CLIPS]
        sets[layout] = (np.asarray(X[pick]), np.asarray(y[pick]), fs)
    return sets


def fit_small(name: str, X: np.ndarray, y: np.ndarray, fs: FeatureSet, *, image_size=(64, 64)) -> float:
    """Fit ``name`` as `ser_keras.training.fit_keras` builds it (z-score, log power, masks) with Adam; best accuracy."""
    import keras

    from ser_keras.extraction.parts import fit_normalization
    from ser_keras.models.layers import log_compress
    from ser_keras.models.transfer import image_normalization
    from ser_keras.training.fit_keras import frame_masks
    from ser_keras.training.pipeline import SpecAugmentOptions

    spec = MODELS[name]
    keras.utils.set_random_seed(0)
    if spec.is_transfer:
        options = {"normalization": image_normalization(X), "weights": "none", "image_size": image_size}
    else:
        options, X_fit = {}, X
        if spec.log_power and fs.features.kind_spec.power_columns is not None:
            options["log_columns"] = fs.features.kind_spec.power_columns(fs.features)
            X_fit = log_compress(X, *options["log_columns"])
        options["normalization"] = fit_normalization(X_fit, fs.features)
    if name == "cnn_lstm":
        options["mel_input"] = False
    if spec.is_frame:
        options["masks"] = frame_masks(SpecAugmentOptions(), seed=0)
    model = spec.build(X.shape[1:], len(fs.labels), **options)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    best = 0.0
    for _ in range(MAX_EPOCHS // 5):  # checked every 5 epochs, so a model that fits early stops early
        model.fit(X, y, batch_size=16, epochs=5, verbose=0)
        best = max(best, float((model.predict(X, verbose=0).argmax(axis=1) == y).mean()))
        if best >= TARGET:
            break
    return best


@pytest.mark.slow
@pytest.mark.parametrize("name", KERAS_MODELS)
def test_every_keras_model_fits_a_small_training_set(name, small_sets):
    layout = MODELS[name].layouts[0] if name != "cnn_lstm" else "sequence"
    X, y, fs = small_sets[layout]
    assert len(np.unique(y)) == len(fs.labels)  # every emotion among the clips
    assert fit_small(name, X, y, fs) >= TARGET


@pytest.mark.slow
def test_a_transfer_backbone_fits_a_small_training_set_from_random_weights(small_sets):
    X, y, fs = small_sets["image"]
    assert MODELS[TRANSFER_BACKBONE].is_transfer and X.shape[1:] == (32, 32)
    assert fit_small(TRANSFER_BACKBONE, X, y, fs, image_size=None) >= TARGET
