"""Transfer learning on log-mel images: ImageNet CNN backbones with an emotion head.

Input ``(n_mels, n_frames)`` log-mel arrays (the ``mel`` features: 16 kHz, 5 s, 128 mels,
n_fft 2048, hop 512, dB).  Inside the model, in order:

1. ``minmax``: each spectrogram scaled to ``[0, 1]`` by its own range;
2. ``normalize``: z-score with the mean and variance of those images over the
   **train split only** (`image_normalization`);
3. ``add_channel`` and, with ``image_size``, ``resize`` to the backbone's native size;
4. ``imagenet_convention``: the channel repeated to three and scaled to the backbone's
   ``preprocess_input`` convention (`layers.ImageNetConvention`);
5. ``backbone`` (no top), then ``avg_pool`` -> ``dropout`` -> ``emotion`` softmax.

Backbones: DenseNet121/169/201 and ResNet50 come from ``keras.applications``.
DenseNet161 and ResNeXt50_32x4d are not there; `densenet161` and `resnext50_32x4d`
build them in the same style, following torchvision's definitions so converted weights
load layer for layer:

* DenseNet161 (growth rate 48, blocks 6/12/36/24, 96 initial features): layer names as
  Keras's DenseNet (``conv1_conv``, ``conv2_block1_0_bn``, ``conv2_block1_1_conv``, ...,
  ``pool2_conv``, ``bn``); torchvision's ``features.denseblockB.denselayerL.norm1/conv1/
  norm2/conv2`` are ``convB+1_blockL_0_bn/_1_conv/_1_bn/_2_conv``, ``transitionB.norm/conv``
  are ``poolB+1_bn/_conv``, ``features.norm5`` is ``bn``.
* ResNeXt50_32x4d (bottlenecks with a grouped 3x3 ``Conv2D(groups=32)``, width 4 per
  group, stages 3/4/6/3): layer names as Keras's ResNet (``conv1_conv``,
  ``convS_blockB_1_conv`` / ``_2_conv`` (grouped) / ``_3_conv``, shortcut ``_0_conv``);
  torchvision's ``layerS-1.B-1.conv1/conv2/conv3/downsample.0`` map to those.

Kernels convert from PyTorch ``(out, in/groups, kh, kw)`` to Keras ``(kh, kw, in/groups,
out)`` by ``transpose(2, 3, 1, 0)``; BatchNorm ``weight, bias, running_mean,
running_var`` are Keras's ``gamma, beta, moving_mean, moving_variance``; epsilon is
1e-5 as in torchvision.  Save such a backbone with ``backbone.save_weights(
"x.weights.h5")`` and pass ``weights="x.weights.h5"`` (``--weights PATH``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import ParameterError
from .conv import BN_MOMENTUM

#: ``--model`` names of the transfer-learning family.
TRANSFER_MODELS = ("densenet121", "densenet169", "densenet201", "densenet161", "resnet50", "resnext50_32x4d")
#: Backbones with published Keras ImageNet weights (``keras.applications``).
KERAS_APPLICATIONS = {
    "densenet121": "DenseNet121",
    "densenet169": "DenseNet169",
    "densenet201": "DenseNet201",
    "resnet50": "ResNet50",
}
_BN_EPSILON = 1e-5


def is_pretrained(weights: str | os.PathLike | None) -> bool:
    """Whether ``--weights`` asks for trained backbone weights (``imagenet`` or a path), not ``None``/``"none"``."""
    return weights not in (None, "none")


def image_normalization(X: np.ndarray) -> tuple[float, float]:
    """Mean and variance of per-example min-max-scaled images, for the ``normalize`` layer.

    Parameters
    ----------
    X : np.ndarray [shape=(n, n_mels, n_frames)]
        Training-split log-mel images only.

    Returns
    -------
    mean, variance : float
    """
    X = np.asarray(X, dtype=np.float32)
    axes = tuple(range(1, X.ndim))
    low, high = X.min(axis=axes, keepdims=True), X.max(axis=axes, keepdims=True)
    span = high - low
    scaled = np.divide(X - low, span, out=np.zeros_like(X), where=span > 0)
    return float(scaled.mean(dtype=np.float64)), max(float(scaled.var(dtype=np.float64)), 1e-12)


def densenet161(
    *, input_shape=(224, 224, 3), include_top: bool = False, classes: int = 1000, name: str = "densenet161"
):
    """DenseNet-161 (growth rate 48, blocks 6/12/36/24, 96 initial features), untrained."""
    return _densenet(
        (6, 12, 36, 24),
        growth_rate=48,
        initial_features=96,
        input_shape=input_shape,
        include_top=include_top,
        classes=classes,
        name=name,
    )


def _densenet(
    blocks: Sequence[int],
    *,
    growth_rate: int,
    initial_features: int,
    input_shape,
    include_top: bool,
    classes: int,
    name: str,
):
    import keras
    from keras import layers

    def bn(name):
        return layers.BatchNormalization(axis=-1, epsilon=_BN_EPSILON, name=name)

    def conv_block(x, name):
        y = bn(f"{name}_0_bn")(x)
        y = layers.Activation("relu", name=f"{name}_0_relu")(y)
        y = layers.Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(y)
        y = bn(f"{name}_1_bn")(y)
        y = layers.Activation("relu", name=f"{name}_1_relu")(y)
        y = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(y)
        return layers.Concatenate(axis=-1, name=f"{name}_concat")([x, y])

    def transition(x, name):
        x = bn(f"{name}_bn")(x)
        x = layers.Activation("relu", name=f"{name}_relu")(x)
        x = layers.Conv2D(x.shape[-1] // 2, 1, use_bias=False, name=f"{name}_conv")(x)
        return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)

    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = layers.ZeroPadding2D(3, name="zero_padding2d")(inputs)
    x = layers.Conv2D(initial_features, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = bn("conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(1, name="zero_padding2d_1")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for stage, n_layers in enumerate(blocks, start=2):
        for i in range(1, n_layers + 1):
            x = conv_block(x, f"conv{stage}_block{i}")
        if stage < len(blocks) + 1:
            x = transition(x, f"pool{stage}")
    x = bn("bn")(x)
    x = layers.Activation("relu", name="relu")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name=name)


def resnext50_32x4d(
    *, input_shape=(224, 224, 3), include_top: bool = False, classes: int = 1000, name: str = "resnext50_32x4d"
):
    """ResNeXt-50 32x4d (bottlenecks with 32 groups of width 4, stages 3/4/6/3), untrained."""
    import keras
    from keras import layers

    groups, width_per_group = 32, 4

    def bn(name):
        return layers.BatchNormalization(axis=-1, epsilon=_BN_EPSILON, name=name)

    def bottleneck(x, planes, stride, shortcut_conv, name):
        width = planes * width_per_group * groups // 64
        out = planes * 4
        if shortcut_conv:
            shortcut = layers.Conv2D(out, 1, strides=stride, use_bias=False, name=f"{name}_0_conv")(x)
            shortcut = bn(f"{name}_0_bn")(shortcut)
        else:
            shortcut = x
        x = layers.Conv2D(width, 1, use_bias=False, name=f"{name}_1_conv")(x)
        x = bn(f"{name}_1_bn")(x)
        x = layers.Activation("relu", name=f"{name}_1_relu")(x)
        x = layers.ZeroPadding2D(1, name=f"{name}_2_pad")(x)
        x = layers.Conv2D(width, 3, strides=stride, groups=groups, use_bias=False, name=f"{name}_2_conv")(x)
        x = bn(f"{name}_2_bn")(x)
        x = layers.Activation("relu", name=f"{name}_2_relu")(x)
        x = layers.Conv2D(out, 1, use_bias=False, name=f"{name}_3_conv")(x)
        x = bn(f"{name}_3_bn")(x)
        x = layers.Add(name=f"{name}_add")([shortcut, x])
        return layers.Activation("relu", name=f"{name}_out")(x)

    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = bn("conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, (n_blocks, planes) in enumerate(((3, 64), (4, 128), (6, 256), (3, 512)), start=2):
        for block in range(1, n_blocks + 1):
            stride = 2 if block == 1 and stage > 2 else 1
            x = bottleneck(x, planes, stride, block == 1, f"conv{stage}_block{block}")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name=name)


def make_backbone(backbone: str, *, input_shape, weights: str | os.PathLike | None = None, name: str | None = None):
    """A headless backbone for ``input_shape`` ``(H, W, 3)`` with the requested weights.

    Parameters
    ----------
    backbone : str
        One of `TRANSFER_MODELS`.
    weights : None, "none", "imagenet" or a path to a ``.weights.h5`` of this backbone

    Raises
    ------
    ParameterError
        ImageNet weights asked for a backbone Keras publishes none for, a missing or
        mismatched weights file, or weights that cannot be fetched.
    """
    import keras

    if backbone not in TRANSFER_MODELS:
        raise ParameterError(f"unknown backbone {backbone!r}; choose one of {', '.join(TRANSFER_MODELS)}")
    weights = weights if is_pretrained(weights) else None
    if weights == "imagenet" and backbone not in KERAS_APPLICATIONS:
        raise ParameterError(
            f"Keras publishes no ImageNet weights for {backbone}; convert torchvision's to a .weights.h5 "
            f"(layer mapping in ser_keras/models/transfer.py) and pass --weights PATH, or use --weights none"
        )
    path = None
    if weights not in (None, "imagenet"):
        path = Path(weights)
        if not path.is_file():
            raise ParameterError(f"{path}: weights file not found (expected a .weights.h5 of the {backbone} backbone)")
    if backbone in KERAS_APPLICATIONS:
        constructor = getattr(keras.applications, KERAS_APPLICATIONS[backbone])
        try:
            model = constructor(
                include_top=False,
                weights="imagenet" if weights == "imagenet" else None,
                input_shape=tuple(input_shape),
                name=name or backbone,
            )
        except Exception as error:  # network errors surface as several exception types
            if weights != "imagenet":
                raise
            raise ParameterError(
                f"could not fetch the ImageNet weights of {backbone} ({error}); with no network, "
                "pass a local file with --weights PATH"
            ) from error
    else:
        builder = {"densenet161": densenet161, "resnext50_32x4d": resnext50_32x4d}[backbone]
        model = builder(input_shape=tuple(input_shape), name=name or backbone)
    if path is not None:
        _load_backbone_weights(model, path, backbone)
    return model


def _load_backbone_weights(model, path: Path, backbone: str) -> None:
    """Load every variable of ``model`` from ``path``, or raise: a partial load is an error, not a warning."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(path)
        except Exception as error:
            first_line = str(error).strip().splitlines()[0]
            raise ParameterError(f"{path}: cannot load as {backbone} backbone weights: {first_line}") from error
    skipped = [
        str(w.message) for w in caught if "Skipping" in str(w.message) or "could not be loaded" in str(w.message)
    ]
    if skipped:
        raise ParameterError(f"{path}: only part of the {backbone} backbone was loaded ({skipped[0]})")


def set_batchnorm_momentum(model, momentum: float) -> None:
    """Set the moving-average momentum of every BatchNormalization layer of ``model`` (nested too).

    ``keras.applications`` builds its BatchNorm with momentum 0.99: the inference statistics
    then need several hundred steps to forget their initial values (zero mean, unit variance).
    Trained from scratch on a few hundred clips (~20-40 steps an epoch), the backbone fits its
    training batches while its inference mode still sees the initial statistics, so it
    predicts one class on every clip, its own training clips included.  Pretrained
    backbones keep theirs: their BatchNorm stays in inference mode.
    """
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum
        elif hasattr(layer, "layers"):  # a nested model
            set_batchnorm_momentum(layer, momentum)


def build_transfer(
    input_shape,
    num_classes,
    *,
    backbone: str,
    normalization=None,
    weights=None,
    image_size: Sequence[int] | None = None,
    dropout: float = 0.5,
    name: str | None = None,
):
    """An emotion classifier on log-mel images with an ImageNet CNN backbone.

    Parameters
    ----------
    input_shape : (n_mels, n_frames)
    num_classes : int
    backbone : str
        One of `TRANSFER_MODELS`.
    normalization : (mean, variance) or None
        Scalars from `image_normalization` on the train split.
    weights : None, "none", "imagenet" or path
        Backbone weights (see `make_backbone`).  With pretrained weights the backbone's
        BatchNorm layers stay in inference mode, also once unfrozen.
    image_size : (height, width) or None
        Resize the image to this size first (e.g. ``(224, 224)``, the backbones' native size).

    Returns
    -------
    model : keras.Model
        ``(None, n_mels, n_frames)`` -> ``(None, num_classes)``; the backbone is the layer ``backbone``.
    """
    import keras
    from keras import layers

    from .layers import BACKBONE_CONVENTION, ImageNetConvention, MinMaxScale

    if len(input_shape) != 2:
        raise ParameterError(f"{backbone} takes mel images (n_mels, n_frames); got input shape {tuple(input_shape)}")
    inputs = keras.Input(shape=tuple(input_shape), name="features")
    x = MinMaxScale(name="minmax")(inputs)
    if normalization is not None:
        mean, variance = (float(np.asarray(v).ravel()[0]) for v in normalization)
        x = layers.Normalization(axis=None, mean=mean, variance=variance, name="normalize")(x)
    x = layers.Reshape((*input_shape, 1), name="add_channel")(x)
    height, width = input_shape
    if image_size:
        height, width = image_size
        x = layers.Resizing(height, width, name="resize")(x)
    x = ImageNetConvention(BACKBONE_CONVENTION[backbone], name="imagenet_convention")(x)
    base = make_backbone(backbone, input_shape=(height, width, 3), weights=weights, name="backbone")
    if not is_pretrained(weights):
        set_batchnorm_momentum(base, BN_MOMENTUM)
    x = base(x, training=False) if is_pretrained(weights) else base(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="emotion")(x)
    return keras.Model(inputs, outputs, name=name or backbone)
